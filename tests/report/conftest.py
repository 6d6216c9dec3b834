"""A small finished run made with a fake trainer (no torch training), shared by the report tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from coexplore import wiring as run
from coexplore.config import load_config, to_dict, to_toml
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.slow.jobs import JobResult, ScoreJob, ScoreResult, TrainJob
from coexplore.slow.trainer import TrainResult
from coexplore.storage import RunStorage

# spec 2600 FPS on the quick pool prunes some children and keeps others
# random search: its runs hold pruned children too (the default strategy trains only
# children that meet the spec), which the report must show
OVERRIDES = {"run.trials": 16, "run.batch": 4, "spec.fps": 2600.0, "run.strategy": "random"}


def fake_train(job: TrainJob) -> JobResult:
    kernels = [layer["kernel"] for layer in job.arch_json["layers"]]
    accuracy = min(0.99, 0.6 + 0.08 * kernels.count(3) + 0.01 * sum(kernels) / len(kernels))
    scored = dict.fromkeys(job.precisions, accuracy)  # no fixed-point loss in these fakes
    return JobResult(TrainResult(True, accuracy, (accuracy,), (0.1,), 0.01, 1), accuracy_at=scored)


def fake_score(job: ScoreJob) -> ScoreResult:
    """A child stopped at an early rung, scored: its float accuracy at every precision."""
    return ScoreResult(dict.fromkeys(job.precisions, job.float_accuracy), job.images or 500, 0.0)


def make_run(run_dir: Path, train_fn: object = None, **overrides: object) -> Path:
    config = load_config("quick", overrides={**OVERRIDES, **overrides})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(to_toml(config))
    with RunStorage.create(run_dir / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(
            run.build_setup(config), train_fn=train_fn or fake_train, score_fn=fake_score
        )
        run_search(setup, storage, LocalExecutor())
    return run_dir


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report") / "finished")


@pytest.fixture
def run_maker():  # type: ignore[no-untyped-def]
    """`make_run` for tests that need a run of their own (conftest is not importable by name)."""
    return make_run
