"""The HTML report: every section, embedded images only, partial and live runs, no writes."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coexplore import wiring as run
from coexplore.cli import app
from coexplore.config import to_dict
from coexplore.report import open_run, render_report, write_report
from coexplore.report.plots import funnel_counts, moving_mean
from coexplore.storage import RunStorage, StorageError, TrialState

SECTIONS = ("summary", "pareto", "evolution", "funnel", "failures", "reward", "stages", "top")
IMAGE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def images(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in IMAGE.findall(html)]


def test_report_has_every_section_and_embedded_pngs(finished_run: Path, tmp_path: Path) -> None:
    path = write_report(finished_run, tmp_path / "r.html")
    html = path.read_text()
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html
    pngs = images(html)
    assert len(pngs) >= 4  # evolution, funnel, reward, one per distinct pick
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert html.count("<svg") == 1  # the Pareto plots, inline, to hover
    # one self-contained file: nothing fetched from anywhere, the one script inline
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert html.count("<script>") == html.count("<script") == 1 and "<link" not in html


def test_report_shows_the_picks_designs_and_top_trials(finished_run: Path) -> None:
    view = open_run(finished_run)
    html = render_report(view)
    sw = view.picks.opt_sw
    assert sw is not None
    evaluation = view.evaluation(sw)
    assert evaluation is not None and not evaluation.reason
    for stage in evaluation.stages:
        t = stage.tiling
        assert f"<td>{t.tm},{t.tn},{t.tr},{t.tc}</td>" in html
        assert f"{stage.dsp:,} / " in html
    assert abs(evaluation.fps - sw.metrics["fps"]) < 1e-6 * sw.metrics["fps"]
    assert f"precision {view.precision.value}" in html and "power: board, per FPGA" in html
    top = html[html.index('<section id="top">') :]
    assert f"<td>{sw.number}</td>" in top and "OptSW" in top


def test_funnel_counts_add_up(finished_run: Path) -> None:
    trials = list(open_run(finished_run).trials)
    counts = dict(funnel_counts(trials))
    assert counts["sampled"] == len(trials) == 16
    assert counts["pruned by fast exploration"] > 0 and counts["trained"] > 0
    assert counts["passed to training"] == counts["sampled"] - counts["pruned by fast exploration"]
    assert (
        counts["trained"] + counts["reused (repeated architecture)"] + counts["failed"]
        == counts["passed to training"]
    )


def test_moving_mean_is_trailing() -> None:
    assert moving_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_mean([], 3) == []


def copy_first_trials(source: Path, target: Path, count: int) -> Path:
    """A run that stopped after ``count`` trials: same config, status still 'running'."""
    target.mkdir()
    with RunStorage.open(source / run.DB_NAME) as old:
        config, trials = old.config(), old.trials()[:count]
    with RunStorage.create(target / run.DB_NAME, config) as new:
        new.set_meta("status", "running")
        for trial in trials:
            new.put_trial(trial)
    return target


@pytest.mark.parametrize("count", [0, 1, 5])
def test_report_works_on_a_partial_run(finished_run: Path, tmp_path: Path, count: int) -> None:
    partial = copy_first_trials(finished_run, tmp_path / "partial", count)
    html = write_report(partial).read_text()
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html
    assert f"{count} of 16 trials stored" in html
    assert "still running, or interrupted" in html
    assert len(images(html)) >= 3  # evolution, funnel, reward (the Pareto plots are SVG)


def test_report_never_writes_to_the_run(finished_run: Path, tmp_path: Path) -> None:
    db = finished_run / run.DB_NAME
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    names = sorted(os.listdir(finished_run))
    write_report(finished_run, tmp_path / "elsewhere.html")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    # SQLite gives any reader of a WAL database its (empty) companion files; nothing else appears
    added = set(os.listdir(finished_run)) - set(names)
    assert added <= {"run.db-wal", "run.db-shm"}
    assert (
        not (finished_run / "run.db-wal").exists()
        or not (finished_run / "run.db-wal").stat().st_size
    )


def test_report_while_a_writer_holds_the_database(finished_run: Path, tmp_path: Path) -> None:
    live = copy_first_trials(finished_run, tmp_path / "live", 6)
    with RunStorage.open(live / run.DB_NAME) as writer:
        writer._conn.execute("BEGIN IMMEDIATE")  # a search in the middle of storing a trial
        html = render_report(open_run(live))
        writer._conn.execute("ROLLBACK")
    assert "6 of 16 trials stored" in html


KILLED = """
import os, signal, sys
from pathlib import Path
from coexplore.storage import RunStorage
source, target, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
with RunStorage.open(source) as old:
    config, trials = old.config(), old.trials()[:count]
storage = RunStorage.create(target, config)
storage.set_meta("status", "running")
for trial in trials:
    storage.put_trial(trial)
os.kill(os.getpid(), signal.SIGKILL)  # killed: never closed, trials only in the WAL
"""


def test_report_on_a_killed_run(finished_run: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.toml").write_text((finished_run / "config.toml").read_text())
    args = [finished_run / run.DB_NAME, killed / run.DB_NAME, "7"]
    child = subprocess.run([sys.executable, "-c", KILLED, *map(str, args)], check=False)
    assert child.returncode == -signal.SIGKILL
    view = open_run(killed)
    assert len(view.trials) == 7 and view.status == "running"
    assert "7 of 16 trials stored" in render_report(view)


def test_open_run_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no run database") as error:
        open_run(tmp_path)
    assert "\n" not in str(error.value)
    (tmp_path / run.DB_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError) as error:
        open_run(tmp_path)
    assert "\n" not in str(error.value)


def test_cli_report(finished_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.html"
    result = runner.invoke(app, ["report", str(finished_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "error:" in missing.output and len(missing.output.strip().splitlines()) == 1


def test_pruned_trials_are_counted_in_the_pareto_caption(finished_run: Path) -> None:
    view = open_run(finished_run)
    pruned = sum(t.state is TrialState.PRUNED for t in view.trials)
    html = render_report(view)
    assert f"{pruned} children pruned before training" in html
    assert to_dict(view.config)["spec"]["fps"] == 2600.0


def test_fpgas_and_layers_are_numbered_from_1_everywhere(finished_run: Path) -> None:
    """The stage table, the stage figure's labels and the hover text count as people do."""
    from coexplore.report.hover import design_lines
    from coexplore.report.stages import stage_label, stage_table

    view = open_run(finished_run)
    sw = view.picks.opt_sw
    assert sw is not None
    evaluation = view.evaluation(sw)
    assert evaluation is not None and len(evaluation.stages) >= 2
    table = stage_table(evaluation, view.pool, view.precision)
    rows = re.findall(r"<tr><td>(\d+)</td><td class=\"text\">[^<]*</td><td>(\d+)-(\d+)</td>", table)
    assert [int(n) for n, _, _ in rows] == list(range(1, len(evaluation.stages) + 1))
    assert int(rows[0][1]) == 1 and int(rows[-1][2]) == evaluation.stages[-1].last_layer + 1
    first = evaluation.stages[0]
    assert stage_label(0, first).startswith(f"FPGA 1\n{first.device}\nlayers 1-")
    assert design_lines(sw.hardware)[0].startswith(f"FPGA 1: {first.device} layers 1-")


def test_the_summary_says_what_the_fidelity_rungs_gave(run_maker, tmp_path: Path) -> None:
    fidelity = {"train.epochs": 4, "fidelity.min_epochs": 1}
    view = open_run(run_maker(tmp_path / "mf", **fidelity))
    html = render_report(view)
    got = Counter(t.epochs for t in view.trials
                  if t.state is TrialState.COMPLETE and t.reused_from is None)  # fmt: skip
    assert len(got) > 1  # children stopped at different rungs
    stopped = ", ".join(f"{n} child{'ren' if n > 1 else ''} {e} epoch{'s' if e > 1 else ''}"
                        for e, n in sorted(got.items()))  # fmt: skip
    assert "multi-fidelity: rungs of 1 / 2 / 4 epochs" in html and stopped in html
    assert "4 training epochs per child" not in html
    plain = render_report(open_run(run_maker(tmp_path / "one", **{"train.epochs": 2})))
    assert "<dt>training</dt><dd>2 epochs per child</dd>" in plain
