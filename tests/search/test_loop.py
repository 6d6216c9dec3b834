"""The search loop with a fake trainer: pruning, reuse, picks, SIGKILL and resume."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_training import DROP, accuracy_of, fake_train

from coexplore import wiring as run
from coexplore.config import load_config, to_dict
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage, TrialState

HERE = Path(__file__).parent


def quick_config(**overrides):
    base = {"run.trials": 24, "run.batch": 4, "spec.fps": 2000.0}
    return load_config("quick", overrides={**base, **overrides})


def run_fake(config, run_dir: Path):
    with RunStorage.create(run_dir / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
        run_search(setup, storage, LocalExecutor())
        return storage.trials()


def test_pruned_children_are_never_trained(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    # random search: the default strategy proposes spec-meeting children only
    trials = run_fake(quick_config(**{"spec.fps": 2600.0, "run.strategy": "random"}), tmp_path)
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.attempts > 0]
    assert pruned and trained, "the spec should prune some children and keep others"
    calls = log.read_text().split()
    assert sorted(calls) == sorted(str(t.seed) for t in trained)
    assert all(t.reward == -1.0 and t.reason and t.accuracy is None for t in pruned)


def test_repeated_architectures_reuse_their_training(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    config = quick_config(**{"space.layers": 1, "run.trials": 20})  # 4 architectures only
    trials = run_fake(config, tmp_path)
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    networks = {t.network_key for t in complete}  # one network at both precisions trains once
    assert len(log.read_text().split()) == len(networks) < len(complete)
    assert len({t.arch_key for t in complete}) > len(networks)  # pairs at both precisions
    for t in complete:
        assert t.accuracy == accuracy_of(t.arch) - DROP[t.precision]
        assert t.float_accuracy == accuracy_of(t.arch)
        if t.reused_from is not None:
            assert t.attempts == 0 and trials[t.reused_from].network_key == t.network_key


def test_rewards_follow_accuracy_and_fps(tmp_path):
    """Every stored reward is the run's reward of that child's accuracy and fps, and that
    reward rises with each of them (a constant reward fails both)."""
    config = quick_config()
    trials = run_fake(config, tmp_path)
    reward = run.build_setup(config).reward
    assert reward.metric == "fps" and 0.0 < reward.alpha < 1.0
    done = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len({t.reward for t in done}) > 1
    for t in done:
        assert t.reward == pytest.approx(reward(t.accuracy, t.metrics))
    accuracy = sum(reward.acc_bounds) / 2  # inside the bounds, where nothing is clipped
    fps = sum(reward.hw_bounds) / 2
    assert reward(accuracy + 0.01, {"fps": fps}) > reward(accuracy, {"fps": fps})
    assert reward(accuracy, {"fps": fps * 1.1}) > reward(accuracy, {"fps": fps})


KILL_SCRIPT = """
import dataclasses, sys
sys.path.insert(0, {here!r})
from pathlib import Path
from fake_training import fake_train
from coexplore import wiring as run
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage
from coexplore.config import parse_config
with RunStorage.open(Path({db!r})) as storage:
    setup = run.build_setup(parse_config(storage.config()))
    run_search(dataclasses.replace(setup, train_fn=fake_train), storage, LocalExecutor())
"""


def test_sigkill_mid_search_then_resume_loses_and_repeats_nothing(tmp_path, monkeypatch):
    config = quick_config(**{"run.trials": 32})
    (tmp_path / "reference").mkdir()
    reference = run_fake(config, tmp_path / "reference")

    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    db = run_dir / run.DB_NAME
    RunStorage.create(db, to_dict(config)).close()
    first_log = tmp_path / "before.log"
    trainings = sum(t.attempts > 0 for t in reference)
    # Trainings after half of them hang: the kill lands mid-search however slow the machine is.
    stall = str(trainings // 2)
    env = {**os.environ, "COEXPLORE_FAKE_LOG": str(first_log), "COEXPLORE_FAKE_STALL_AFTER": stall}
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT.format(here=str(HERE), db=str(db))], env=env
    )
    deadline = time.time() + 900  # a safety net: the loop ends on its condition
    while time.time() < deadline:
        with RunStorage.open(db) as storage:
            stored = len(storage.trials())
        if stored >= trainings // 2:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with RunStorage.open(db) as storage:
        before = storage.trials()
    assert trainings // 2 <= len(before) < 32, "the kill should land mid-search"

    second_log = tmp_path / "after.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(second_log))
    with RunStorage.open(db) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
        run_search(setup, storage, LocalExecutor())
        after = storage.trials()

    summary = [(t.number, t.arch_key, t.state, t.accuracy) for t in after]
    assert summary == [(t.number, t.arch_key, t.state, t.accuracy) for t in reference]
    retrained = set(second_log.read_text().split()) if second_log.exists() else set()
    finished_before = {str(t.seed) for t in before if t.state is TrialState.COMPLETE and t.attempts}
    assert not retrained & finished_before, "a trial finished before the kill was trained again"
    assert [t.number for t in after] == list(range(32))


def test_controller_mode_resamples_hardware_then_prunes(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    impossible = quick_config(**{"run.strategy": "rl", "fast.mode": "controller",
                                 "fast.hw_tries": 3, "spec.fps": 1e9, "run.trials": 8})  # fmt: skip
    trials = run_fake(impossible, tmp_path)
    assert all(t.state is TrialState.PRUNED for t in trials)
    assert all(t.hw_tries == 3 and "hw_tries" not in t.timings for t in trials)
    assert not log.exists(), "a pruned child was trained"


def test_controller_mode_finds_usable_designs(tmp_path):
    config = quick_config(
        **{"run.strategy": "rl", "fast.mode": "controller", "spec.fps": 500.0, "run.trials": 16}
    )
    (tmp_path / "a").mkdir()
    trials = run_fake(config, tmp_path / "a")
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert complete, "the controller should find designs that meet a loose spec"
    for t in complete:
        assert t.hardware is not None and t.metrics["fps"] >= 500.0


def test_a_repeat_reuses_the_training_even_after_a_pruned_trial_of_its_architecture(
    tmp_path, monkeypatch
):
    """In controller mode one architecture can be pruned (on the hardware sampled with it) and
    trained by a later trial; a third trial of it reuses that training, never trains again."""
    from coexplore.search.loop import evaluate_batch
    from coexplore.search.strategy import Candidate
    from coexplore.storage import TrialRecord

    log = tmp_path / "calls.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    config = quick_config(**{"run.strategy": "random", "spec.fps": 100.0})  # nothing pruned
    setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
    arch = setup.strategy.ask(1)[0].arch
    stored = TrialRecord(
        number=0, batch=0, slot=0, strategy="rl", state=TrialState.PRUNED, arch_key=arch.key,
        arch=setup.space.to_json(arch), hardware=None, metrics={},
        reward=-1.0, reason="no design meets the spec", seed=1, started_at=0.0, finished_at=1.0,
        timings={},
    )  # fmt: skip
    trained = dataclasses.replace(
        stored, number=1, slot=1, state=TrialState.COMPLETE, reason="", reward=0.5, seed=2,
        accuracy=0.4321, epochs=1, meets_spec=True, network_key=setup.space.network_key(arch),
        precision=setup.space.precision_of(arch),
        accuracy_at=dict.fromkeys(("fixed16", "fixed8"), 0.4321),
    )  # fmt: skip
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        storage.put_trial(stored)
        storage.put_trial(trained)
        (record,) = evaluate_batch(setup, storage, LocalExecutor(), 1, [Candidate(arch)])
    assert not log.exists(), "the architecture was trained again"
    assert record.state is TrialState.COMPLETE and record.reused_from == 1
    assert record.accuracy == 0.4321
