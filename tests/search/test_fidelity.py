"""Multi-fidelity training: the rungs, promotions by the strategy's reward, continuation from
stored weights, resume after SIGKILL, and every strategy."""

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fake_training import DROP, fake_rung_train, fake_score, rung_accuracy
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore import wiring as run
from coexplore.config import load_config, to_dict
from coexplore.executors import LocalExecutor
from coexplore.results.picks import full_fidelity
from coexplore.search.fidelity import Fidelity, by_front, by_score
from coexplore.search.loop import run_search
from coexplore.search.strategies import configurable
from coexplore.storage import RunStorage, TrialState

HERE = Path(__file__).parent


def mf_config(**overrides):
    base = {"run.trials": 32, "run.batch": 8, "spec.fps": 2000.0, "train.epochs": 4,
            "fidelity.min_epochs": 1, "fidelity.eta": 2}  # fmt: skip
    return load_config("quick", overrides={**base, **overrides})


def run_fake(config, run_dir: Path, train_fn=fake_rung_train):
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunStorage.create(run_dir / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=train_fn, score_fn=fake_score)
        run_search(setup, storage, LocalExecutor())
        return storage.trials(), setup


@settings(deadline=None)
@given(st.integers(1, 64), st.integers(0, 64), st.integers(2, 5))
def test_rungs_divide_by_eta_down_to_min_epochs(epochs, min_epochs, eta):
    rungs = Fidelity.halving(epochs, min(min_epochs, epochs), eta).rungs
    assert rungs[-1] == epochs
    assert all(later // eta == earlier for earlier, later in itertools.pairwise(rungs))
    if min_epochs == 0:
        assert rungs == (epochs,)
    else:
        assert rungs[0] >= min(min_epochs, epochs) and rungs[0] // eta < min(min_epochs, epochs)


@settings(deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=1, max_size=20), st.integers(2, 4))
def test_promote_keeps_the_best_share_by_score(scores, eta):
    from coexplore.storage import TrialRecord

    def trial(number, score):
        return TrialRecord(number, 0, number, "x", TrialState.RUNNING, f"a{number}", {}, None,
                           {}, None, "", 0, 0.0, None, {}, rung_accuracies={1: score})  # fmt: skip

    reached = [trial(i, s) for i, s in enumerate(scores)]
    fidelity = Fidelity((1, 2), eta)
    promoted = fidelity.promote(reached, 1, by_score(lambda t: t.accuracy))
    assert len(promoted) == max(1, len(scores) // eta)
    worst_kept = min(scores[i] for i in promoted)
    assert all(s <= worst_kept for i, s in enumerate(scores) if i not in promoted)
    assert fidelity.promote(reached, 2, by_score(lambda t: 0.0)) == set(), "none past the last"


def dominates(a, b):
    return a[0] >= b[0] and a[1] >= b[1] and a != b


@settings(deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.9]), st.integers(1, 6),
                       st.booleans()), min_size=1, max_size=20),
    st.integers(2, 4),
)  # fmt: skip
def test_promote_by_front_keeps_whole_fronts_first_and_both_ends(rows, eta):
    from coexplore.storage import TrialRecord

    def trial(number, accuracy, fps, meets):
        return TrialRecord(number, 0, number, "x", TrialState.RUNNING, f"a{number}", {}, None,
                           {"fps": float(fps)}, None, "", 0, 0.0, None, {}, meets_spec=meets,
                           rung_accuracies={1: accuracy})  # fmt: skip

    reached = [trial(i, *row) for i, row in enumerate(rows)]
    promoted = Fidelity((1, 2), eta).promote(reached, 1, by_front("fps"), minimum=2)
    assert len(promoted) == min(len(rows), max(2, len(rows) // eta))
    points = {i: (a, f) for i, (a, f, meets) in enumerate(rows) if meets}
    stopped = [i for i in points if i not in promoted]
    for i in promoted:
        if i in points:
            assert not any(dominates(points[j], points[i]) for j in stopped), "front order"
        else:
            assert not stopped, "a child missing the spec goes on only after all that meet it"
    if len(points) >= 2:
        most_accurate = max(points.values())
        fastest = max(points.values(), key=lambda p: (p[1], p[0]))
        kept = {points[i] for i in promoted if i in points}
        assert most_accurate in kept and fastest in kept, "both ends of the first front go on"


def test_children_are_promoted_by_reward_and_store_the_epochs_they_got(tmp_path):
    # rl has a scalar reward of its own: the children at a rung are ranked by it.
    trials, setup = run_fake(mf_config(**{"run.strategy": "rl"}), tmp_path)
    assert setup.fidelity.rungs == (1, 2, 4)
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    epochs = Counter(t.epochs for t in trained)
    assert set(epochs) == {1, 2, 4}, "every rung should be reached by someone"
    for t in trained:
        got = t.epochs
        assert t.float_accuracy == rung_accuracy(t.arch, got)
        assert t.accuracy == rung_accuracy(t.arch, got) - DROP[t.precision]
        reached = [e for e in setup.fidelity.rungs if e <= got]
        assert sorted(t.rung_accuracies) == reached
        early = setup.early_images  # a child stopped early: its change measured on these
        assert 0 < early < 1000 and t.val_images == (1000 if got == 4 else early)
    for batch in {t.batch for t in trained}:
        mine = [t for t in trained if t.batch == batch]
        for low, high in itertools.pairwise(setup.fidelity.rungs):
            reached = [t for t in mine if t.epochs >= low]
            went_on = [t for t in reached if t.epochs >= high]
            assert len(went_on) == max(1, len(reached) // 2)
            rewards = {t.number: setup.reward(t.rung_accuracies[low], t.metrics) for t in reached}
            assert min(rewards[t.number] for t in went_on) >= max(
                (rewards[t.number] for t in reached if t not in went_on), default=-9
            )


def test_coexplore_promotes_by_pareto_front_in_accuracy_and_hardware_metric(tmp_path):
    """The default strategy has no scalar reward: at each rung the children on the
    (rung accuracy, fps) front go on first, both of its ends included, at least two."""
    trials, setup = run_fake(mf_config(), tmp_path)
    assert setup.rules.name == "coexplore"
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    checked = 0
    for batch in {t.batch for t in trained}:
        mine = [t for t in trained if t.batch == batch]
        for low, high in itertools.pairwise(setup.fidelity.rungs):
            reached = [t for t in mine if t.epochs >= low]
            went_on = {t.number for t in reached if t.epochs >= high}
            assert len(went_on) == min(len(reached), max(2, len(reached) // 2))
            points = {t.number: (t.rung_accuracies[low], t.metrics["fps"]) for t in reached
                      if t.meets_spec}  # fmt: skip
            stopped = [n for n in points if n not in went_on]
            for n in went_on & set(points):
                assert not any(dominates(points[m], points[n]) for m in stopped)
            if len(points) >= 2:
                best = max(points, key=lambda n: (points[n], -n))
                fastest = max(points, key=lambda n: (points[n][1], points[n][0], -n))
                assert {best, fastest} <= went_on
                checked += 1
    assert checked >= 4, "the run should have ranked several rungs"


def test_a_promoted_child_goes_on_from_its_weights_and_no_epoch_is_trained_twice(
    tmp_path, monkeypatch
):
    log = tmp_path / "epochs.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    trials, _ = run_fake(mf_config(), tmp_path / "run")
    lines = log.read_text().split()
    assert len(lines) == len(set(lines)), "an epoch of some child was trained twice"
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    assert sorted(lines) == sorted(f"{t.seed}:{e}" for t in trained for e in range(1, t.epochs + 1))
    with RunStorage.open(tmp_path / "run" / run.DB_NAME) as storage:
        assert all(storage.train_state(t.number) is None for t in trials), "states are dropped"


def test_multi_fidelity_trains_fewer_epochs_for_as_many_children(tmp_path, monkeypatch):
    counts = {}
    for name, min_epochs in (("off", 0), ("on", 1)):
        log = tmp_path / f"{name}.log"
        monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
        overrides = {"fidelity.min_epochs": min_epochs, "hardware.precisions": ["fixed16"]}
        trials, _ = run_fake(mf_config(**overrides), tmp_path / name)
        counts[name] = (len(log.read_text().split()), [t.arch_key for t in trials])
    assert counts["on"][0] * 2 <= counts["off"][0]
    assert counts["on"][1][:8] == counts["off"][1][:8], "the first batch is asked alike"


def test_picks_compare_only_children_trained_fully(tmp_path):
    from coexplore.results.picks import pick

    trials, _ = run_fake(mf_config(), tmp_path)
    picks = pick(trials, "fps", 0.02)
    assert picks.opt_sw is not None and picks.opt_hw is not None
    assert picks.opt_sw.epochs == picks.opt_hw.epochs == 4
    assert all(t.epochs == 4 for t in full_fidelity(
        [t for t in trials if t.state is TrialState.COMPLETE]))  # fmt: skip


@pytest.mark.parametrize("strategy", configurable())
def test_every_strategy_runs_with_multi_fidelity(tmp_path, strategy):
    trials, _ = run_fake(mf_config(**{"run.strategy": strategy, "run.trials": 16}), tmp_path)
    assert [t.number for t in trials] == list(range(16))
    assert all(t.state is not TrialState.RUNNING for t in trials)
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    assert trained and max(t.epochs for t in trained) == 4


KILL_SCRIPT = """
import dataclasses, sys
sys.path.insert(0, {here!r})
from pathlib import Path
from fake_training import fake_rung_train, fake_score
from coexplore import wiring as run
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage
from coexplore.config import parse_config
with RunStorage.open(Path({db!r})) as storage:
    setup = run.build_setup(parse_config(storage.config()))
    setup = dataclasses.replace(setup, train_fn=fake_rung_train, score_fn=fake_score)
    run_search(setup, storage, LocalExecutor())
"""


@pytest.mark.parametrize(
    ("strategy", "kill_after_lines"),
    [("rl", 3), ("rl", 9), ("rl", 14), ("coexplore", 3), ("coexplore", 9),
     ("coexplore", 14), ("coexplore", 15), ("coexplore", 30), ("rl", 17)],
)  # fmt: skip
def test_sigkill_between_rungs_then_resume_loses_and_repeats_no_epoch(
    tmp_path, monkeypatch, strategy, kill_after_lines
):
    config = mf_config(**{"run.trials": 16, "run.strategy": strategy})
    reference, _ = run_fake(config, tmp_path / "reference")
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    db = run_dir / run.DB_NAME
    RunStorage.create(db, to_dict(config)).close()
    log = tmp_path / "epochs.log"
    env = {**os.environ, "COEXPLORE_FAKE_LOG": str(log), "COEXPLORE_FAKE_SLEEP": "0.2"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT.format(here=str(HERE), db=str(db))], env=env
    )
    deadline = time.time() + 900  # a safety net: the loop ends on its condition
    while time.time() < deadline and child.poll() is None:
        if log.exists() and len(log.read_text().split()) >= kill_after_lines:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with RunStorage.open(db) as storage:
        assert len(storage.trials(states=[TrialState.RUNNING])) > 0 or kill_after_lines < 9

    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    with RunStorage.open(db) as storage:
        setup = dataclasses.replace(
            run.build_setup(config), train_fn=fake_rung_train, score_fn=fake_score
        )
        run_search(setup, storage, LocalExecutor())
        after = storage.trials()

    def outcome(t):
        return (t.number, t.arch_key, t.state, t.metrics, t.accuracy, t.epochs, t.reward)

    assert [outcome(t) for t in after] == [outcome(t) for t in reference]
    lines = log.read_text().split()
    # A job trains one epoch and the child is stored with its weights after it, so the kill
    # can cost only the epoch in flight (trained, not yet stored): one epoch, nothing else.
    assert len(lines) - len(set(lines)) <= 1
    trained = [t for t in after if t.state is TrialState.COMPLETE and t.reused_from is None]
    assert set(lines) == {f"{t.seed}:{e}" for t in trained for e in range(1, t.epochs + 1)}


class RetriedSecondEpochs(LocalExecutor):
    """Reports every job of a child's second epoch as tried twice (a worker died once)."""

    def imap_attempts(self, fn, jobs):
        for job, outcome in zip(jobs, super().imap_attempts(fn, jobs), strict=True):
            second = getattr(job, "until_epoch", 0) == 2  # a ScoreJob trains no epoch
            yield outcome._replace(attempts=2 if second else 1)


def test_attempts_count_tries_of_a_childs_training_not_its_epochs(tmp_path):
    """Each epoch of multi-fidelity training is one job; `attempts` is 1 plus the retries of
    all of them, so a child trained 4 epochs without a hitch has 1."""
    config = mf_config(**{"run.trials": 8})
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(
            run.build_setup(config), train_fn=fake_rung_train, score_fn=fake_score
        )
        run_search(setup, storage, RetriedSecondEpochs())
        trials = storage.trials()
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    assert {t.epochs for t in trained} >= {1, 4}
    assert all(t.attempts == (2 if t.epochs >= 2 else 1) for t in trained), [
        (t.epochs, t.attempts) for t in trained
    ]
