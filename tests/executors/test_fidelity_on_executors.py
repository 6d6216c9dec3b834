"""Multi-fidelity searches on every executor: the same rungs, promotions and trials on each, the
weights of a promoted child carried between processes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from fake_training import fake_rung_train, fake_score

from coexplore import wiring as run
from coexplore.config import Config, load_config, to_dict
from coexplore.executors import Executor, LocalExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage, TrialRecord, TrialState


def mf_config(**overrides: Any) -> Config:
    base = {"run.trials": 16, "run.batch": 8, "spec.fps": 2000.0, "train.epochs": 4,
            "fidelity.min_epochs": 1}  # fmt: skip
    return load_config("quick", overrides={**base, **overrides})


def search(config: Config, run_dir: Path, executor: Executor, train_fn: Any) -> list[TrialRecord]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunStorage.create(run_dir / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=train_fn, score_fn=fake_score)
        run_search(setup, storage, executor)
        return storage.trials()


def outcome(t: TrialRecord) -> tuple[Any, ...]:
    return (t.number, t.arch_key, t.state, t.metrics, t.accuracy, t.rung_accuracies, t.epochs,
            t.reward, t.reused_from)  # fmt: skip


def test_multi_fidelity_gives_the_same_trials_on_every_executor(
    any_executor: Executor, tmp_path: Path
) -> None:
    reference = search(mf_config(), tmp_path / "local", LocalExecutor(), fake_rung_train)
    trials = search(mf_config(), tmp_path / "other", any_executor, fake_rung_train)
    assert [outcome(t) for t in trials] == [outcome(t) for t in reference]
    assert {t.epochs for t in trials if t.state is TrialState.COMPLETE} >= {1, 4}


@pytest.mark.slow
def test_real_multi_fidelity_training_matches_across_processes(
    pool_executor: Executor, tmp_path: Path
) -> None:
    config = mf_config(**{"run.trials": 8, "train.epochs": 2})
    local = search(config, tmp_path / "local", LocalExecutor(), run.run_train_job)
    pooled = search(config, tmp_path / "pool", pool_executor, run.run_train_job)
    assert [outcome(t) for t in pooled] == [outcome(t) for t in local]
    assert any(t.epochs == 2 for t in pooled), "someone was promoted"
