"""A small run made with a fake trainer, and one trial of it exported (trained for real, once)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from coexplore import wiring as run
from coexplore.config import load_config, to_dict, to_toml
from coexplore.executors import LocalExecutor
from coexplore.export import ExportResult, export_trial
from coexplore.search.loop import run_search
from coexplore.slow.jobs import JobResult, TrainJob
from coexplore.slow.trainer import TrainResult
from coexplore.storage import RunStorage, TrialRecord, TrialState

# spec 2600 FPS on the quick pool prunes some children and keeps others
# random search, so the run holds a pruned child to refuse (the default strategy trains
# only children that meet the spec)
OVERRIDES = {"run.trials": 12, "run.batch": 4, "spec.fps": 2600.0, "run.strategy": "random"}


def fake_train(job: TrainJob) -> JobResult:
    accuracy = 0.5 + 0.01 * len(job.arch_json["layers"])
    scored = dict.fromkeys(job.precisions, accuracy)  # no fixed-point loss in these fakes
    return JobResult(TrainResult(True, accuracy, (accuracy,), (0.1,), 0.01, 1), accuracy_at=scored)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = load_config("quick", overrides=OVERRIDES)
    folder = tmp_path_factory.mktemp("export") / "run"
    folder.mkdir()
    (folder / "config.toml").write_text(to_toml(config))
    with RunStorage.create(folder / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
        run_search(setup, storage, LocalExecutor())
    return folder


@pytest.fixture(scope="session")
def run_trials(run_dir: Path) -> list[TrialRecord]:
    with RunStorage.open(run_dir / run.DB_NAME) as storage:
        return storage.trials()


@pytest.fixture(scope="session")
def complete_trial(run_trials: list[TrialRecord]) -> TrialRecord:
    return next(t for t in run_trials if t.state is TrialState.COMPLETE)


@pytest.fixture(scope="session")
def exported(run_dir: Path, complete_trial: TrialRecord) -> ExportResult:
    return export_trial(run_dir, complete_trial.number)
