"""Pareto helpers on stored trials, for everything that reads results (the search's picks, the
report, the tabular fronts, compare). Neutral: they need only the storage records."""

from __future__ import annotations

from coexplore.storage import TrialRecord, TrialState


def feasible_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Trained children that meet the spec (and so have hardware metrics)."""
    return [
        t for t in trials if t.state is TrialState.COMPLETE and t.meets_spec and "fps" in t.metrics
    ]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated when maximising both coordinates, sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front, best_y = [], float("-inf")
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return sorted(front, key=lambda i: points[i][0])
