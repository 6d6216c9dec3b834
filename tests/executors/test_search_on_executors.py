"""Whole searches on every executor: the same seeded trials on each, and a worker killed in the
middle of a search costs one retry, never a lost or double-counted trial."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_training import fake_train
from flaky_training import RETRIES, KillSeed, ReportPid, tries

from coexplore import wiring as run
from coexplore.config import Config, load_config, to_dict
from coexplore.executors import Executor, LocalExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage, TrialRecord, TrialState


def quick_config(**overrides: Any) -> Config:
    base = {"run.trials": 16, "run.batch": 4, "spec.fps": 2000.0}
    return load_config("quick", overrides={**base, **overrides})


def search(
    config: Config, run_dir: Path, executor: Executor, train_fn: Callable[[Any], Any] = fake_train
) -> list[TrialRecord]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunStorage.create(run_dir / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=train_fn)
        run_search(setup, storage, executor)
        return storage.trials()


def outcome(t: TrialRecord) -> tuple[Any, ...]:
    """What a seeded search must reproduce; timings and wall-clock times may differ."""
    return (t.number, t.arch_key, t.state, t.seed, t.metrics, t.reward, t.attempts, t.reused_from)


@pytest.fixture(scope="module")
def fake_reference(tmp_path_factory: pytest.TempPathFactory) -> list[TrialRecord]:
    return search(quick_config(), tmp_path_factory.mktemp("fake"), LocalExecutor())


@pytest.fixture(scope="module")
def real_reference(tmp_path_factory: pytest.TempPathFactory) -> list[TrialRecord]:
    folder = tmp_path_factory.mktemp("real")
    return search(quick_config(**REAL), folder, LocalExecutor(), run.run_train_job)


REAL = {"run.trials": 8}


def test_a_seeded_search_gives_the_same_trials_on_every_executor(
    any_executor: Executor, tmp_path: Path, fake_reference: list[TrialRecord]
):
    trials = search(quick_config(), tmp_path, any_executor)
    assert [outcome(t) for t in trials] == [outcome(t) for t in fake_reference]
    assert any(t.state is TrialState.COMPLETE and t.attempts == 1 for t in trials)


@pytest.mark.slow
def test_real_training_gives_the_same_trials_on_every_executor(
    any_executor: Executor, tmp_path: Path, real_reference: list[TrialRecord]
):
    trials = search(quick_config(**REAL), tmp_path, any_executor, run.run_train_job)
    assert [outcome(t) for t in trials] == [outcome(t) for t in real_reference]
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.attempts]
    assert trained and all(0.2 < t.accuracy <= 1.0 for t in trained)


def kill_first_try(folder: Path, killed: list[tuple[int, int]], seconds: float = 120) -> None:
    """SIGKILL the worker of the first job that reports its pid; note (seed, pid)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        for path in sorted(folder.glob("*.tries")):
            pids = tries(folder, path.stem)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append((int(path.stem), pids[0]))
                return
        time.sleep(0.005)


def test_a_worker_killed_mid_search_costs_one_retry_and_no_trial(
    worker_executor: Executor, tmp_path: Path, fake_reference: list[TrialRecord]
):
    folder = tmp_path / "tries"
    folder.mkdir()
    killed: list[tuple[int, int]] = []
    killer = threading.Thread(target=kill_first_try, args=(folder, killed))
    killer.start()
    trials = search(quick_config(), tmp_path / "run", worker_executor, ReportPid(str(folder), 0.4))
    killer.join()
    [(seed, pid)] = killed

    assert [t.number for t in trials] == list(range(16))
    assert all(t.state is not TrialState.RUNNING for t in trials)
    hit = next(t for t in trials if t.seed == seed)
    assert hit.state is TrialState.COMPLETE and hit.attempts == 2
    assert tries(folder, seed)[0] == pid and len(tries(folder, seed)) == 2
    trained = {t.seed: t.attempts for t in trials if t.attempts > 0}
    tried = {int(p.stem): len(tries(folder, p.stem)) for p in folder.glob("*.tries")}
    assert trained == tried, "stored attempts must equal the tries the workers made"
    once = [dataclasses.replace(t, attempts=t.attempts and 1) for t in trials]
    assert [outcome(t) for t in once] == [outcome(t) for t in fake_reference]


def test_a_child_that_always_kills_its_worker_is_stored_failed(
    worker_executor: Executor, tmp_path: Path, fake_reference: list[TrialRecord]
):
    target = next(t for t in fake_reference if t.state is TrialState.COMPLETE and t.attempts)
    trials = search(
        quick_config(), tmp_path / "run", worker_executor, KillSeed(str(tmp_path), target.seed)
    )

    assert [t.number for t in trials] == list(range(16))
    failed = trials[target.number]
    assert failed.state is TrialState.FAILED and "died" in failed.reason.lower()
    assert failed.attempts == RETRIES + 1 == len(tries(tmp_path, target.seed))
    assert failed.reward == -1.0 and failed.accuracy is None
    assert all(t.state is not TrialState.RUNNING for t in trials)
