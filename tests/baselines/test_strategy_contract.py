"""The contract every search strategy keeps (in the spirit of optuna's sampler test suite):
valid candidates, rewards accepted, exact state round trip, determinism from the seed, and a
short search through `run_search` that stores every trial and resumes to the same trials."""

import contextlib
import json

import pytest
from baseline_helpers import CASES, make_setup, told

from coexplore.config import to_dict
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.search.strategy import Candidate
from coexplore.storage import RunStorage, TrialState

pytestmark = pytest.mark.parametrize("case", list(CASES))


def _keys(candidates):
    return [c.arch.key for c in candidates]


def _drive(strategy, rounds, n=4):
    asked = []
    for _ in range(rounds):
        candidates = strategy.ask(n)
        strategy.tell(candidates, [told(float(len(c.arch.key) % 7) / 7) for c in candidates])
        asked.append(_keys(candidates))
    return asked


def test_ask_returns_n_valid_candidates(case):
    _, setup = make_setup(case)
    for n in (1, 5):
        candidates = setup.strategy.ask(n)
        assert len(candidates) == n
        for c in candidates:
            assert isinstance(c, Candidate)
            assert setup.space.decode(setup.space.encode(c.arch)) == c.arch
            assert setup.space.from_json(setup.space.to_json(c.arch)) == c.arch
        setup.strategy.tell(candidates, [told(0.0)] * n)


# Strategies whose asks do not depend on what they are told.
IGNORE_REWARDS = {"random", "exhaustive", "random_feasible"}


def test_tell_accepts_outcomes_including_pruned(case):
    """Told outcomes with PRUNED ones among them, a strategy still asks valid candidates; one
    that learns ends in another state than a twin told the same children all trained alike
    (the pruned ones were taken as such), one that does not learn in the same state."""
    _, learner = make_setup(case)
    _, twin = make_setup(case)
    for _ in range(3):
        candidates = learner.strategy.ask(4)
        learner.strategy.tell(candidates, [told(r) for r in (-1.0, -0.5, 0.25, 1.0)])
        twin_candidates = twin.strategy.ask(4)
        twin.strategy.tell(twin_candidates, [told(0.25)] * 4)
    after = learner.strategy.ask(4)
    assert len(after) == 4
    assert all(learner.space.decode(learner.space.encode(c.arch)) == c.arch for c in after)
    learner.strategy.tell(after, [told(0.0)] * 4)
    twin.strategy.tell(twin.strategy.ask(4), [told(0.0)] * 4)
    same = learner.strategy.state_bytes() == twin.strategy.state_bytes()
    assert same is (case in IGNORE_REWARDS)


def test_state_round_trip_gives_identical_next_asks(case):
    _, setup = make_setup(case)
    _drive(setup.strategy, 2)
    blob = setup.strategy.state_bytes()
    _, fresh = make_setup(case)
    fresh.strategy.load_state(blob)
    assert _drive(fresh.strategy, 2) == _drive(setup.strategy, 2)


def test_same_seed_same_asks_other_seed_other_asks(case):
    first, second, other = (make_setup(case, seed=s)[1].strategy for s in (3, 3, 4))
    assert _drive(first, 3) == _drive(second, 3)
    assert _drive(make_setup(case, seed=3)[1].strategy, 3) != _drive(other, 3)


def _search(setup, storage, stop_after=None):
    def hook(records):
        if stop_after is not None and records[-1].batch + 1 >= stop_after:
            raise KeyboardInterrupt  # what a user's Ctrl-C does mid-search

    with contextlib.suppress(KeyboardInterrupt):
        run_search(setup, storage, LocalExecutor(), hook)


def test_short_search_stores_every_trial_and_resumes_identically(case, tmp_path):
    config, setup = make_setup(case)
    with RunStorage.create(tmp_path / "whole.db", to_dict(config)) as storage:
        _search(setup, storage)
        whole = storage.trials()
    assert [t.number for t in whole] == list(range(config.run.trials))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in whole)
    assert {t.strategy for t in whole} == {setup.rules.name}
    assert any(t.state is TrialState.COMPLETE for t in whole)

    with RunStorage.create(tmp_path / "split.db", to_dict(config)) as storage:
        _search(setup_a := make_setup(case)[1], storage, stop_after=2)
        assert len(storage.trials()) == 2 * config.run.batch
        _search(make_setup(case)[1], storage)  # a new process would rebuild the setup
        split = storage.trials()
    assert setup_a.strategy is not setup.strategy
    assert [(t.arch_key, t.state, t.reward) for t in split] == [
        (t.arch_key, t.state, t.reward) for t in whole
    ]


# The controller strategies (rl, nas, hwnas, hwnas_soft) keep torch's weights-only format.
PLAIN_STATE = {"coexplore", "motpe", "random_feasible", "random", "exhaustive", "nsga2"}


def test_strategies_keep_their_state_as_plain_json(case):
    if case not in PLAIN_STATE:
        pytest.skip("a controller strategy: torch's weights-only state, no pickle either")
    _, setup = make_setup(case)
    _drive(setup.strategy, 2)
    blob = setup.strategy.state_bytes()
    assert not blob.startswith(b"\x80")  # a pickle protocol >= 2 header
    json.loads(blob)
