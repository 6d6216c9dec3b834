"""How a run ends and where it may go: a run that found nothing exits 4 saying why, one whose
children fail alike stops early grouped by cause and says how to go on, `--out` takes only a
new or empty folder, settings this machine cannot honour are refused before the folder exists,
and a finished run's resume trains nothing again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fake_training import fake_train
from typer.testing import CliRunner

from coexplore import wiring as run
from coexplore.cli import app
from coexplore.config import ConfigError, load_config, to_dict
from coexplore.executors import LocalExecutor
from coexplore.slow.jobs import JobResult
from coexplore.slow.trainer import TrainResult
from coexplore.spaces.nb201 import Nb201Arch
from coexplore.storage import RunStorage, TrialState
from coexplore.tabular.accuracy import COLUMNS

runner = CliRunner()


def one_line_error(result, status: int) -> str:
    """The one stderr line of a command that ended with `status`."""
    assert result.exit_code == status, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_search_whose_every_child_is_pruned_exits_4_and_says_why(tmp_path):
    out = tmp_path / "run"
    argv = ["search", "--preset", "quick", "--set", "spec.fps=1e12", "--out", str(out)]
    result = runner.invoke(app, [*argv, "--no-progress"])
    line = one_line_error(result, 4)
    assert line.startswith("error: no trained child meets the spec: of 16 children, 16 pruned")
    assert "< spec 1e+12 FPS (and " in line and "relax the spec (spec.fps" in line
    summary = json.loads((out / "picks.json").read_text())
    assert summary["opt_sw"] is None and line == f"error: {summary['nothing_found']}"
    assert "OptSW: no child met the spec" in result.stdout  # the summary is printed first

    again = runner.invoke(app, ["resume", str(out), "--no-progress"])
    assert one_line_error(again, 4) == line  # resume of the finished run: the same verdict
    assert f"resume: {out} had finished: nothing to train" in again.stdout


def write_one_row_table(path: Path) -> None:
    """A NATS-Bench table of one cell: every other child fails to find its accuracy."""
    header = [*COLUMNS.values(), "ArchitectureString"]
    row = ["90.0", "70.0", "40.0", Nb201Arch.from_index(0).to_string()]
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")


def test_children_failing_for_one_cause_stop_the_search_whatever_child_they_name(tmp_path):
    """The issue's case: 400 of 400 failed on a one-row table, each reason naming its own
    architecture index, and no early stop."""
    table, out = tmp_path / "one.csv", tmp_path / "run"
    write_one_row_table(table)
    argv = ["search", "--preset", "nb201", "--set", f"data.root={table}", "--out", str(out)]
    line = one_line_error(runner.invoke(app, [*argv, "--no-progress"]), 3)
    assert line.startswith("error: search stopped after batch 1: the last 8 trained children")
    assert "no accuracy for architecture index" in line and "(and 7 like it)" in line
    assert line.endswith(f"the run is kept: mend the cause, then `coexplore resume {out}`")
    [failure] = json.loads((out / "picks.json").read_text())["failures"]
    assert failure["count"] == 8 and failure["reason"].endswith("(and 7 like it)")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: "", "--out: empty path"),
        (lambda d: (d / "file").write_text("x") and d / "file", "not a folder"),
        (lambda d: (d / "mine.txt").write_text("x") and d, "not empty and holds no run"),
        (lambda d: RunStorage.create(d / run.DB_NAME, {}).close() or d, "already holds a run"),
    ],
    ids=["empty", "file", "someone's folder", "a run"],
)
def test_out_takes_only_a_new_or_empty_folder(tmp_path, make, message):
    folder = tmp_path / "given"
    folder.mkdir()
    out = make(folder)
    before = sorted(p.name for p in folder.iterdir())
    result = runner.invoke(app, ["search", "--preset", "quick", "--out", str(out)])
    assert message in one_line_error(result, 2) and result.stdout == ""
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given"]  # nor into the cwd's parent


def test_cuda_on_a_machine_without_it_is_refused_before_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    argv = ["search", "--preset", "quick", "--set", "train.device=cuda", "--out", str(out)]
    line = one_line_error(runner.invoke(app, argv), 2)
    assert "train.device: 'cuda'" in line and "'auto'" in line and not out.exists()
    # Where this machine cannot tell (a cluster's nodes) or nothing trains, no refusal.
    cluster = {"train.device": "cuda", "executor.kind": "ray", "executor.address": "h:6379"}
    run.check_device(load_config("quick", overrides=cluster))
    run.check_device(load_config("nb201", overrides={"train.device": "cuda"}))


def test_no_throughput_bound_says_what_to_set_for_the_reward():
    with pytest.raises(ConfigError) as caught:
        load_config("quick", overrides={"spec.fps": 0.0})
    message = str(caught.value)
    assert "spec.fps = 0" in message and "reward.hw_bounds" in message
    assert "reward.metric" in message and "\n" not in message
    for fixed in ({"reward.hw_bounds": [100, 4000]}, {"reward.metric": "pipeline_efficiency"}):
        assert load_config("quick", overrides={"spec.fps": 0.0, **fixed}).spec.fps == 0.0


def test_an_interrupted_run_says_how_to_go_on(tmp_path, monkeypatch):
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(load_config("quick"))):
        pass

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "resume", interrupted)
    result = runner.invoke(app, ["resume", str(tmp_path)])
    line = one_line_error(result, 130)
    assert line == f"error: interrupted; the run is kept: `coexplore resume {tmp_path}` goes on"


class Counted:
    """A trainer that counts its calls (the local executor runs it in this process)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, job):
        self.calls += 1
        return self.fn(job)


def final_train(job) -> JobResult:
    return JobResult(TrainResult(True, 0.9, (0.9,), (0.1,), 0.01, 1), 0.875, 300, 200)


def test_a_finished_run_is_not_trained_again_and_its_outputs_come_back(tmp_path, monkeypatch):
    searched, final = Counted(fake_train), Counted(final_train)
    monkeypatch.setattr(run, "run_train_job", searched)
    monkeypatch.setattr("coexplore.search.outputs.run_train_job", final)
    compacted = []
    monkeypatch.setattr(RunStorage, "compact", lambda storage: compacted.append(storage.path))
    config = load_config("quick", overrides={"run.trials": 8, "final.epochs": 1})
    first = run.start(config, tmp_path / "run", LocalExecutor(), progress=False)
    trainings, retrainings = searched.calls, final.calls
    assert trainings > 0 and retrainings in (1, 2) and not first.finished_before
    assert first.summary["opt_sw"]["test_accuracy"] == 0.875
    assert compacted == [first.run_dir / run.DB_NAME]  # weights' pages given back at the end

    again = run.resume(first.run_dir, LocalExecutor(), progress=False)
    assert again.finished_before and again.summary == json.loads(json.dumps(first.summary))
    for name in ("picks.json", "pareto.png"):
        (first.run_dir / name).unlink()
    rewritten = run.resume(first.run_dir, LocalExecutor(), progress=False)
    assert rewritten.finished_before and (first.run_dir / "pareto.png").is_file()
    assert json.loads((first.run_dir / "picks.json").read_text()) == again.summary
    assert (searched.calls, final.calls) == (trainings, retrainings)  # nothing trained again
    with RunStorage.open(first.run_dir / run.DB_NAME) as storage:
        assert {t.state for t in storage.trials()} <= {TrialState.COMPLETE, TrialState.PRUNED}
