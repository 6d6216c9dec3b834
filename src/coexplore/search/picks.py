"""The two headline picks of a run (as the paper reports them) and the Pareto front.

OptSW: the most accurate child that meets the spec. OptHW: the child with the best hardware
metric among those that meet the spec within `accuracy_gap` of OptSW's accuracy.

With multi-fidelity training only the children trained fully compete: a child stopped at an
early rung has a lower accuracy because it trained less, not because it is worse. How far the
picks' accuracies can be told apart is said by `coexplore.search.noise` in the run's summary.
"""

from __future__ import annotations

from dataclasses import dataclass

from coexplore.pareto import feasible_trials, pareto_front
from coexplore.search.fidelity import full_fidelity
from coexplore.storage import TrialRecord

__all__ = [
    "Picks",
    "feasible_trials",
    "pareto_front",
    "pick",
]  # the Pareto helpers: coexplore.pareto


@dataclass(frozen=True)
class Picks:
    opt_sw: TrialRecord | None
    opt_hw: TrialRecord | None


def pick(trials: list[TrialRecord], metric: str, accuracy_gap: float) -> Picks:
    feasible = full_fidelity(feasible_trials(trials))
    if not feasible:
        return Picks(None, None)
    # Ties go to the earlier trial, so picks are stable as a run grows.
    opt_sw = max(feasible, key=lambda t: (t.metrics["accuracy"], t.metrics[metric], -t.number))
    close = [
        t for t in feasible if t.metrics["accuracy"] >= opt_sw.metrics["accuracy"] - accuracy_gap
    ]
    opt_hw = max(close, key=lambda t: (t.metrics[metric], t.metrics["accuracy"], -t.number))
    return Picks(opt_sw, opt_hw)
