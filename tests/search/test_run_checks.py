"""A run checks what it needs before its folder exists, leaves no stray folder, and a stopped or
broken run can be mended with `resume --set` (issue: runs that never strand you)."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from coexplore import wiring as run
from coexplore.cli import app
from coexplore.config import load_config, to_dict
from coexplore.slow.data import CIFAR_TEST_FILE, CIFAR_TRAIN_FILES
from coexplore.storage import RunStorage, TrialState

runner = CliRunner()


def write_cifar(directory: Path, per_batch: int = 30) -> None:
    """Tiny files in the CIFAR-10 python-pickle format."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        batch = {b"data": data, b"labels": (np.arange(per_batch) % 10).tolist()}
        (directory / name).write_bytes(pickle.dumps(batch))


BAD_SETUPS = [
    (["--preset", "quick", "--set", "hardware.pool=2xNOPE"], "unknown device 'NOPE'"),
    (["--preset", "imagenet"], "data.root"),
    (["--preset", "nuclei"], "data.root"),
    (["--preset", "quick", "--set", "hardware.devices_file={d}/missing.toml"], "missing.toml"),
    (["--preset", "nb201"], "NAS-Bench-201 table: give its CSV path"),
    (["--preset", "quick", "--set", "data.dataset=cifar10"], "config: data.root: dataset cifar10"),
    (
        ["--preset", "quick", "--set", "data.dataset=cifar10", "--set", "data.root={d}"],
        "missing data_batch_1, data_batch_2",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_SETUPS)
def test_a_bad_setup_fails_before_the_run_folder_exists(tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("COEXPLORE_NB201_CSV", raising=False)
    out = tmp_path / "runs" / "bad"
    argv = ["search", *[a.format(d=tmp_path) for a in args], "--out", str(out)]
    for _ in range(2):  # the same command again: the same error, not "already holds a run"
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert not (tmp_path / "runs").exists()


def test_a_run_that_ends_before_its_first_trial_leaves_no_folder(tmp_path, monkeypatch):
    def no_executor(config):
        raise ValueError("executor: cannot start or join the Ray cluster at 'x:1': refused")

    monkeypatch.setattr(run, "make_executor", no_executor)
    (tmp_path / "mine.txt").write_text("the user's file")
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new" / "deeper", tmp_path / "empty"):  # made by the run / not
        with pytest.raises(ValueError, match="cannot start or join"):
            run.start(load_config("quick"), out, progress=False)
        assert not (tmp_path / "new").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "mine.txt"]
        assert not any((tmp_path / "empty").iterdir())


def test_children_failing_alike_stop_the_run_and_resume_set_mends_it(tmp_path):
    broken, good = tmp_path / "broken", tmp_path / "good"
    broken.mkdir()
    for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE):  # present, so the checks pass, but junk
        (broken / name).write_bytes(b"not a pickle")
    write_cifar(good)
    out = tmp_path / "run"
    sets = ["run.trials=8", "run.batch=4", "spec.fps=0", "reward.hw_bounds=[0, 20000]"]
    sets += ["data.dataset=cifar10", f"data.root={broken}", "space.layers=2", "train.epochs=1"]
    argv = ["search", "--preset", "quick", "--out", str(out), "--no-progress"]
    stopped = runner.invoke(app, argv + [x for s in sets for x in ("--set", s)])
    assert stopped.exit_code == 3, stopped.output
    line = stopped.stderr.strip()
    assert line.startswith("error: search stopped after batch 1: the last 4 trained children all")
    assert "failed with: " in line and "\n" not in line
    summary = json.loads((out / "picks.json").read_text())
    [failure] = summary["failures"]
    assert failure["count"] == 4 and failure["reason"] in line
    with RunStorage.open(out / run.DB_NAME) as storage:
        assert storage.get_meta("status") == "stopped"
        assert [t.state for t in storage.trials()] == [TrialState.FAILED] * 4

    refused = runner.invoke(app, ["resume", str(out), "--set", "spec.fps=5"])
    assert refused.exit_code == 2 and "spec.fps cannot change in a started run" in refused.stderr
    mended = runner.invoke(app, ["resume", str(out), "--no-progress", "--set", f"data.root={good}"])
    assert mended.exit_code == 0, mended.output + mended.stderr
    with RunStorage.open(out / run.DB_NAME) as storage:
        trials = storage.trials()
        assert storage.config()["data"]["root"] == str(good)
        assert storage.get_meta("status") == "finished"
    assert len(trials) == 8 and [t.state for t in trials[:4]] == [TrialState.FAILED] * 4
    assert all(t.state is TrialState.COMPLETE for t in trials[4:])  # nothing lost, none redone
    assert f'root = "{good}"' in (out / "config.toml").read_text()


def test_resume_set_checks_before_it_stores(tmp_path):
    write_cifar(tmp_path / "data")
    cifar = {"data.dataset": "cifar10", "data.root": str(tmp_path / "data")}
    config = load_config("quick", overrides=cifar)
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)):
        pass
    bad = [
        ({"hardware.devices_file": str(tmp_path / "no.toml")}, "no.toml"),
        ({"data.root": str(tmp_path)}, "missing data_batch_1"),
        ({"hardware.pool": "1xXC7Z020"}, "hardware.pool cannot change in a started run"),
    ]
    for overrides, message in bad:
        with pytest.raises(ValueError, match=message):
            run.resume(tmp_path, overrides=overrides)
    with RunStorage.open(tmp_path / run.DB_NAME) as storage:
        assert storage.config() == json.loads(json.dumps(to_dict(config)))
