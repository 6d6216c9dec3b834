"""`coexplore compare --epochs-budget`: each run scored on what it had trained when N training
epochs were spent (trained children's epochs in trial order; pruned and reused ones cost
nothing), and hypervolume against training epochs."""

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from coexplore.cli import app
from coexplore.compare.plots import mean_steps
from coexplore.compare.runs import is_trained, training_epochs, within_epochs
from coexplore.compare.summary import epochs_curve, hypervolume_curve
from coexplore.storage import DB_NAME, RunStorage, TrialRecord, TrialState

KINDS = {  # (state, attempts): trained, pruned, reused, failed after training
    "trained": (TrialState.COMPLETE, 1),
    "pruned": (TrialState.PRUNED, 0),
    "reused": (TrialState.COMPLETE, 0),
    "failed": (TrialState.FAILED, 1),
}


def _trial(number: int, kind: str, epochs: int, fps: float, accuracy: float) -> TrialRecord:
    state, attempts = KINDS[kind]
    return TrialRecord(
        number, number // 4, number % 4, "s", state, f"k{number}", {}, None,
        {"fps": fps, "gops_per_w": fps / 100}, 0.0, "", 0, 0.0, 1.0, {},
        meets_spec=kind != "pruned", accuracy=accuracy if state is TrialState.COMPLETE else None,
        epochs=epochs if kind != "pruned" else 0, attempts=attempts,
    )  # fmt: skip


runs_of_trials = st.lists(
    st.tuples(
        st.sampled_from(sorted(KINDS)),
        st.integers(1, 8),
        st.floats(100, 2000),
        st.floats(0.1, 1.0),
    ),
    max_size=24,
).map(lambda rows: [_trial(n, *row) for n, row in enumerate(rows)])


def _cost(trials) -> int:
    return sum(t.epochs for t in trials if t.state is not TrialState.PRUNED and t.attempts > 0)


@settings(max_examples=200, deadline=None)
@given(trials=runs_of_trials, budget=st.integers(0, 60), shuffle=st.randoms())
def test_within_epochs_is_the_longest_prefix_that_fits(trials, budget, shuffle):
    """Brute force: of the trial-order prefixes whose trained children's epochs fit the budget,
    the longest (every trial when the budget is 0); the order trials come in does not matter."""
    fitting = [k for k in range(len(trials) + 1) if budget == 0 or _cost(trials[:k]) <= budget]
    given_order = list(trials)
    shuffle.shuffle(given_order)
    assert within_epochs(given_order, budget) == tuple(trials[: max(fitting)])
    assert training_epochs(trials) == _cost(trials)


@settings(max_examples=100, deadline=None)
@given(trials=runs_of_trials)
def test_epochs_curve_pairs_each_training_with_the_epochs_spent_by_then(trials):
    reference = (50.0, 0.0)
    epochs, curve = epochs_curve(trials, "fps", reference)
    assert curve == hypervolume_curve(trials, "fps", reference)
    trained = [t for t in trials if is_trained(t)]
    assert epochs == [_cost(trained[: k + 1]) for k in range(len(trained))]
    for spent, value in zip(epochs, curve, strict=True):  # what within_epochs scores
        held = epochs_curve(within_epochs(trials, spent), "fps", reference)[1]
        assert held[-1] == value


@settings(max_examples=100, deadline=None)
@given(
    runs=st.lists(st.lists(st.tuples(st.integers(1, 5), st.floats(0, 10)), max_size=6), min_size=1)
)
def test_mean_steps_is_the_mean_of_each_runs_value_at_each_epoch(runs):
    """Brute force: at every epoch, each run's hypervolume is that of its last child finished
    by then (0 before its first), held past its end."""
    steps = []
    for rows in runs:
        spent = np.cumsum([e for e, _ in rows]).tolist()
        steps.append((spent, sorted(v for _, v in rows)))  # hypervolume never falls
    grid, mean = mean_steps(steps)
    assert grid.tolist() == list(range(max([s[-1] for s, _ in steps if s], default=0) + 1))
    for epoch in grid:
        held = [
            max([v for s, v in zip(e, vs, strict=True) if s <= epoch], default=0.0)
            for e, vs in steps
        ]
        assert mean[epoch] == pytest.approx(np.mean(held))


def _compare_digits(out, budget: int):
    sets = ["run.trials=8", "run.batch=4", "train.epochs=2", "fidelity.min_epochs=1",
            "fidelity.eta=2", "spec.fps=100"]  # fmt: skip
    args = ["compare", "--preset", "quick", "--methods", "random,nas", "--out", str(out),
            "--epochs-budget", str(budget)]  # fmt: skip
    return CliRunner().invoke(app, [*args, *(a for s in sets for a in ("--set", s))])


def _whole(out, strategy: str) -> list[TrialRecord]:
    with RunStorage.open(out / "runs" / f"{strategy}-s0" / DB_NAME) as storage:
        return storage.trials()


def test_compare_stops_and_scores_runs_at_the_epochs_budget(tmp_path):
    """Real (tiny) training with successive halving: a batch of 4 children spends 6 epochs (4
    at 1 epoch, 2 of them on to 2), so a budget of 3 stops each run after its first batch and
    scores it on the children that fit in 3 epochs; a larger budget goes on with the run."""
    out = tmp_path / "digits"
    result = _compare_digits(out, 3)
    assert result.exit_code == 0, result.output
    assert (out / "hypervolume-epochs.png").exists()
    with (out / "compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["strategy"] for r in rows] == ["random", "nas"]
    for row in rows:
        whole = _whole(out, row["strategy"])
        assert len(whole) == 4 and training_epochs(whole) == 6  # stopped after one batch
        scored = within_epochs(whole, 3)
        assert float(row["epochs"]) == training_epochs(scored) <= 3
        assert int(row["trained"]) == sum(is_trained(t) for t in scored) < len(whole)
    assert "3 training epochs were spent" in (out / "compare.md").read_text()
    first = [t.arch_key for t in _whole(out, "nas")]
    assert _compare_digits(out, 8).exit_code == 0
    grown = _whole(out, "nas")
    assert len(grown) == 8 and [t.arch_key for t in grown[:4]] == first


def test_a_negative_epochs_budget_is_one_line(tmp_path):
    result = CliRunner().invoke(
        app, ["compare", "--preset", "quick", "--out", str(tmp_path), "--epochs-budget", "-1"]
    )
    assert result.exit_code == 2 and "--epochs-budget must be >= 0" in result.output
    assert "Traceback" not in result.output
