"""The two headline picks of a run (as the paper reports them).

OptSW: the most accurate child that meets the spec. OptHW: the child with the best hardware
metric among those that meet the spec within `accuracy_gap` of OptSW's accuracy. Accuracies
are at each child's precision (the arithmetic its design computes in).

With multi-fidelity training only the children trained fully compete: a child stopped at an
early rung has a lower accuracy because it trained less, not because it is worse. How far the
picks' accuracies can be told apart is said by `coexplore.results.noise` in the run's summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coexplore.results.pareto import feasible_trials
from coexplore.storage import TrialRecord


@dataclass(frozen=True)
class Picks:
    opt_sw: TrialRecord | None
    opt_hw: TrialRecord | None


def full_fidelity(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials trained longest: only their accuracies are compared with each other
    (a child stopped at an early rung has a lower accuracy for it). A trial without an
    epoch count (a reuse stored by an older version) counts as trained fully."""
    most = max((t.epochs for t in trials), default=0)
    return [t for t in trials if t.epochs in (0, most)]


def pick(trials: list[TrialRecord], metric: str, accuracy_gap: float) -> Picks:
    feasible = full_fidelity(feasible_trials(trials))
    if not feasible:
        return Picks(None, None)
    # Ties go to the earlier trial, so picks are stable as a run grows.
    opt_sw = max(feasible, key=lambda t: (_accuracy(t), t.metrics[metric], -t.number))
    close = [t for t in feasible if _accuracy(t) >= _accuracy(opt_sw) - accuracy_gap]
    opt_hw = max(close, key=lambda t: (t.metrics[metric], _accuracy(t), -t.number))
    return Picks(opt_sw, opt_hw)


def _accuracy(trial: TrialRecord) -> float:
    assert trial.accuracy is not None  # feasible trials are trained
    return trial.accuracy
