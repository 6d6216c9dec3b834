"""The Pareto plots' hover: every drawn child names its architecture, design and metrics; the
summary says how many images the accuracies rest on; checked in headless Chromium if present."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from coexplore.report import open_run, render_report
from coexplore.report.hover import arch_text
from coexplore.slow.jobs import JobResult, TrainJob
from coexplore.slow.trainer import TrainResult
from coexplore.storage import TrialState

TIP = re.compile(r'<g id="([a-z_]+)-([a-z0-9]+)">(.*?)</g>\n   </g>', re.S)
TITLE = re.compile(r'<use [^>]*class="tip"><title>(.*?)</title></use>', re.S)


def tips_by_group(html: str) -> dict[tuple[str, str], list[str]]:
    return {
        (metric, kind): [htmllib.unescape(t) for t in TITLE.findall(body)]
        for metric, kind, body in TIP.findall(html)
    }


def test_every_drawn_child_has_a_tip_naming_its_architecture_design_and_metrics(
    finished_run: Path,
) -> None:
    view = open_run(finished_run)
    groups = tips_by_group(render_report(view))
    for metric in ("fps", "gops_per_w"):
        tipped = {
            int(tip.split()[1]): tip
            for (m, kind), tips in groups.items()
            if m == metric and not kind.startswith("pick")
            for tip in tips
        }
        drawn = [t for t in view.trials if metric in t.metrics and t.state is not TrialState.FAILED]
        assert set(tipped) == {t.number for t in drawn}
        for t in drawn:
            tip = tipped[t.number]
            assert arch_text(t.arch) in tip
            # the stage lines count the classifier as a layer; the tip names it
            classifier = len(t.arch["layers"]) + 1
            assert f"+ classifier (layer {classifier})" in tip
            if t.hardware:
                assert t.hardware["stages"][-1]["last_layer"] + 1 == classifier
            assert f"{t.metrics['fps']:,.0f} FPS" in tip
            if t.hardware:
                devices = [stage["device"] for stage in t.hardware["stages"]]
                assert all(f"FPGA {i}: {d}" in tip for i, d in enumerate(devices, 1))
            if t.state is TrialState.COMPLETE:
                assert f"validation accuracy {t.accuracy:.3f} at {t.precision}" in tip
    sw = view.picks.opt_sw
    assert sw is not None
    pick_tips = [
        tip for (_, kind), tips in groups.items() if kind.startswith("pick") for tip in tips
    ]
    assert any(tip.startswith(f"trial {sw.number} (OptSW") for tip in pick_tips)


def fake_with_images(job: TrainJob) -> JobResult:
    kernels = [layer["kernel"] for layer in job.arch_json["layers"]]
    until = job.until_epoch or job.train.epochs
    accuracy = min(0.99, 0.6 + 0.08 * kernels.count(3)) * (1 - 0.1 / until)
    state = b"x" if until < job.train.epochs else b""
    train = TrainResult(True, accuracy, (accuracy,), (0.1,), 0.01, until, state=state)
    scored = dict.fromkeys(job.precisions, accuracy)
    return JobResult(train, val_images=500, accuracy_at=scored, scored_images=500 if scored else 0)


def test_a_multi_fidelity_run_says_which_children_stopped_early_and_the_noise(
    tmp_path: Path, run_maker
) -> None:
    multi_fidelity = {"train.epochs": 4, "fidelity.min_epochs": 1, "run.batch": 8}
    run_dir = run_maker(tmp_path / "mf", fake_with_images, **multi_fidelity, **{"spec.fps": 2000.0})
    html = render_report(open_run(run_dir))
    assert "stopped at an early rung" in html
    assert "validation accuracy rests on 500 images" in html
    assert re.search(r"OptSW - OptHW = [+-]\d+\.\d points, (beyond|WITHIN) the noise", html)
    tips = [tip for tips in tips_by_group(html).values() for tip in tips]
    said = Counter(re.findall(r"\d+ epochs?\b", "\n".join(tips)))
    assert said["1 epoch"] and said["4 epochs"], "the tips say the epochs each child got"
    assert not said["1 epochs"], "one epoch is singular"


HARNESS = """<script>
window.addEventListener("load", function () {
  var point = document.querySelector("#pareto use.tip");
  var box = point.getBoundingClientRect();
  var x = box.left + box.width / 2, y = box.top + box.height / 2;
  var hit = document.elementFromPoint(x, y);
  point.dispatchEvent(new MouseEvent("mouseenter", {clientX: x, clientY: y}));
  var tip = document.querySelector(".tipbox");
  var out = document.createElement("pre");
  out.id = "harness";
  out.textContent = (hit === point) + "|" + getComputedStyle(tip).display + "|" + tip.textContent;
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_hovering_a_point_in_headless_chromium_shows_its_tip(
    finished_run: Path, tmp_path: Path
) -> None:
    page = render_report(open_run(finished_run)).replace("</body>", HARNESS + "</body>")
    path = tmp_path / "check.html"
    path.write_text(page)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,2000",
             "--virtual-time-budget=5000", "--dump-dom"]  # fmt: skip
    done = subprocess.run(
        ["chromium", *flags, path.as_uri()], capture_output=True, text=True, timeout=120
    )
    found = re.search(r'<pre id="harness">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    hit, display, text = htmllib.unescape(found.group(1)).split("|", 2)
    assert hit == "true", "the point under the pointer is not the point drawn there"
    assert display == "block" and text.startswith("trial ") and "architecture: " in text
    first = tips_by_group(render_report(open_run(finished_run)))
    assert text in [tip for tips in first.values() for tip in tips]
