#!/usr/bin/env python3
"""Check a report's Pareto hover in headless Chromium, as a user's mouse would trigger it.

    python scripts/check_report_hover.py RUN_DIR_OR_REPORT_HTML [--trial N ...] [--shots DIR]

Given a run folder it renders the report first (`coexplore.report`); given an .html file it
opens that. Chromium is driven over the DevTools protocol through a pipe
(`--remote-debugging-pipe`, stdlib only): the pointer is moved onto a point of the Pareto plot
with real input events (the browser's own hit testing fires mouseenter, :hover applies), and
the script prints what the tooltip box then shows, where it is, and that it goes away when the
pointer leaves. Without --trial it hovers the points of the children with the fewest and the
most training epochs. Every network request the page makes is logged: anything other than the
file itself and data: URIs (a CDN, a font, a beacon) fails the check.

A checking tool, not a project dependency: it needs a Chromium (Debian: apt-get install
chromium). Exit status 0: all checks passed; 1: a check failed; 2: bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
WIDTH_PX, HEIGHT_PX = 1300, 900


class DevTools:
    """A DevTools-protocol client over Chromium's --remote-debugging-pipe (fd 3 in, fd 4 out;
    messages are JSON, each ended by a NUL byte)."""

    def __init__(self, browser: str, profile: Path, log: Path) -> None:
        to_browser, self._send_fd = os.pipe()
        self._recv_fd, from_browser = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-default-apps", "--mute-audio",
                 f"--user-data-dir={profile}", f"--window-size={WIDTH_PX},{HEIGHT_PX}",
                 "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        actions = [
            (os.POSIX_SPAWN_DUP2, to_browser, 3),
            (os.POSIX_SPAWN_DUP2, from_browser, 4),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        self.pid = os.posix_spawn(browser, [browser, *flags], os.environ, file_actions=actions)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str = "", timeout_s: float = 30.0, **params: Any) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"{method}: no answer in {timeout_s:g} s")

    def wait_for(self, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        while time.monotonic() < deadline:
            message = self._read()
            self.events.append(message)
            if message.get("method") == event:
                return message
        raise TimeoutError(f"no {event} in {timeout_s:g} s")

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._recv_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (see its log)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", timeout_s=5)
        for _ in range(50):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                return
            time.sleep(0.1)
        os.kill(self.pid, 9)  # the browser this script started, by its id
        os.waitpid(self.pid, 0)


POINTS_JS = """
(() => {
  // Every hoverable point of the Pareto section whose centre is not covered by another one.
  const section = document.querySelector("#pareto");
  section.scrollIntoView({block: "start"});
  const points = [...section.querySelectorAll("use.tip")];
  return JSON.stringify(points.map((p, i) => {
    const r = p.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    return {i: i, label: p.getAttribute("aria-label") || "",
            free: document.elementFromPoint(x, y) === p};
  }));
})()
"""

AIM_JS = """
(() => {
  const p = document.querySelectorAll("#pareto use.tip")[%d];
  p.scrollIntoView({block: "center"});
  const r = p.getBoundingClientRect();
  return JSON.stringify({x: r.left + r.width / 2, y: r.top + r.height / 2,
                         scroll_x: window.scrollX, scroll_y: window.scrollY});
})()
"""

SEEN_JS = """
(() => {
  const p = document.querySelectorAll("#pareto use.tip")[%d];
  const box = document.querySelector(".tipbox");
  const r = box.getBoundingClientRect();
  return JSON.stringify({hit: document.elementFromPoint(%f, %f) === p, hover: p.matches(":hover"),
    display: getComputedStyle(box).display, text: box.textContent,
    box: [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]});
})()
"""


def report_html(source: Path, work: Path) -> Path:
    """The report to open: `source` itself, or one rendered from the run folder `source`."""
    if source.is_file() and source.suffix == ".html":
        return source
    if not (source / "run.db").is_file():
        raise ValueError(f"{source}: neither a report .html nor a run folder (no run.db)")
    from coexplore.report import open_run, render_report

    out = work / "report.html"
    out.write_text(render_report(open_run(source)))
    return out


def choose(points: list[dict[str, Any]], trials: list[int]) -> list[dict[str, Any]]:
    """The points to hover: the given trials, else the fewest- and most-epochs children."""
    free = [p for p in points if p["free"] and p["label"].startswith("trial ")]
    if trials:
        out = [p for t in trials for p in free if p["label"].split()[1] == str(t)][: len(trials)]
        missing = set(trials) - {int(p["label"].split()[1]) for p in out}
        if missing:
            raise ValueError(f"trial(s) {sorted(missing)}: no uncovered point on the Pareto plot")
        return out
    trained = [p for p in free if re.search(r"\d+ epochs?\b", p["label"])]
    if not trained:
        return free[:1]

    def epochs(p: dict[str, Any]) -> int:
        return int(re.search(r"(\d+) epochs?\b", p["label"]).group(1))  # type: ignore[union-attr]

    low, high = min(trained, key=epochs), max(trained, key=epochs)
    return [low] if low is high else [low, high]


def check(html: Path, browser: str, trials: list[int], shots: Path | None) -> list[str]:
    """Hover the chosen points; print what a user sees; the problems found (none: passed)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as profile:
        tools = DevTools(browser, Path(profile) / "profile", Path(profile) / "chromium.log")
        try:
            target = tools.call("Target.createTarget", url="about:blank")["targetId"]
            session = tools.call("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            tools.call("Network.enable", session)
            tools.call("Page.enable", session)
            tools.call("Emulation.setDeviceMetricsOverride", session, width=WIDTH_PX,
                       height=HEIGHT_PX, deviceScaleFactor=1, mobile=False)  # fmt: skip
            tools.events.clear()
            tools.call("Page.navigate", session, url=html.resolve().as_uri())
            tools.wait_for("Page.loadEventFired")

            def evaluate(expression: str) -> Any:
                result = tools.call("Runtime.evaluate", session, expression=expression)
                return json.loads(result["result"]["value"])

            points = evaluate(POINTS_JS)
            print(f"{html}: {len(points)} hoverable points on the Pareto plots, "
                  f"{sum(p['free'] for p in points)} not covered by another")  # fmt: skip
            if not points:
                problems.append("no hoverable point on the Pareto plots")
            for point in choose(points, trials):
                problems += _hover(tools, session, evaluate, point, shots)
            requests = [e["params"]["request"]["url"] for e in tools.events
                        if e.get("method") == "Network.requestWillBeSent"]  # fmt: skip
            remote = [u for u in requests if not u.startswith(LOCAL_SCHEMES)]
            print(f"network: {len(requests)} requests, all local (file:/data:)"
                  if not remote else f"network: REMOTE requests {remote}")  # fmt: skip
            if remote:
                problems.append(f"the page asked the network for {remote}")
        finally:
            tools.close()
    return problems


def _hover(tools: DevTools, session: str, evaluate: Any, point: dict[str, Any],
           shots: Path | None) -> list[str]:  # fmt: skip
    problems = []
    aim = evaluate(AIM_JS % point["i"])
    x, y = aim["x"], aim["y"]
    mouse: dict[str, Any] = {"button": "none", "buttons": 0, "modifiers": 0}
    tools.call("Input.dispatchMouseEvent", session, type="mouseMoved", x=2, y=2, **mouse)
    tools.call("Input.dispatchMouseEvent", session, type="mouseMoved", x=x, y=y, **mouse)
    seen = evaluate(SEEN_JS % (point["i"], x, y))
    name = point["label"].splitlines()[0]
    print(f"\nhover at ({x:.0f}, {y:.0f}) px on {name}: point under the pointer "
          f"{'yes' if seen['hit'] else 'NO'}, :hover ring {'yes' if seen['hover'] else 'no'}, "
          f"tooltip box {seen['display']} at left/top/width/height {seen['box']} px")  # fmt: skip
    print("  " + seen["text"].replace("\n", "\n  "))
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        # The clip is in page coordinates: the viewport's plus how far the page is scrolled.
        left, top = max(0, aim["scroll_x"] + x - 60), max(0, aim["scroll_y"] + y - 60)
        clip = {"x": left, "y": top, "width": 660, "height": 260, "scale": 1}
        png = tools.call("Page.captureScreenshot", session, format="png", clip=clip)
        import base64

        path = shots / f"hover_{name.split()[1]}.png"
        path.write_bytes(base64.b64decode(png["data"]))
        print(f"  screenshot: {path}")
    if not seen["hit"]:
        problems.append(f"{name}: the pointer at the point's centre is not over that point")
    if seen["display"] != "block" or seen["text"] != point["label"]:
        problems.append(f"{name}: the tooltip box does not show the point's text")
    if seen["display"] == "block" and (seen["box"][0] < x or seen["box"][1] < y):
        problems.append(f"{name}: the tooltip box is not beside the pointer")
    tools.call("Input.dispatchMouseEvent", session, type="mouseMoved", x=2, y=2, **mouse)
    if evaluate(SEEN_JS % (point["i"], x, y))["display"] != "none":
        problems.append(f"{name}: the tooltip box stays after the pointer leaves")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a run folder or a report .html")
    parser.add_argument("--trial", type=int, action="append", default=[], help="hover this one")
    parser.add_argument("--shots", type=Path, help="save a screenshot of each hover here")
    parser.add_argument("--browser", default="", help="Chromium binary (default: on PATH)")
    args = parser.parse_args(argv)
    browser = args.browser or next(
        (
            found
            for name in ("chromium", "chromium-browser", "google-chrome")
            if (found := shutil.which(name))
        ),
        "",
    )
    if not browser:
        print("error: no Chromium found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as work:
            html = report_html(args.source, Path(work))
            problems = check(html, browser, args.trial, args.shots)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n" + ("PASS: the hover works offline" if not problems else "FAIL:"))
    for problem in problems:
        print(f"  - {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
