"""Pareto helpers on stored trials, for everything that reads results (the search's picks, the
report, the tabular fronts, compare). Neutral: they need only the storage records."""

from __future__ import annotations

from coexplore.storage import TrialRecord, TrialState


def feasible_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Trained children that meet the spec (and so have hardware metrics)."""
    return [
        t for t in trials if t.state is TrialState.COMPLETE and t.meets_spec and "fps" in t.metrics
    ]


def pareto_front(points: list[tuple[float, float]], repeats: bool = False) -> list[int]:
    """Indices of the points not dominated when maximising both coordinates, sorted by x
    (a point is dominated by another at least as large in both and larger in one).

    `repeats`: a point given more than once is on the front with every copy; by default only
    its first copy is (a front to plot or pick from; a ranking wants every copy ranked)."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front: list[int] = []
    best_y = float("-inf")
    for i in order:
        # copies sort next to each other: a copy of the point kept last is not dominated either
        if points[i][1] > best_y or (repeats and front and points[i] == points[front[-1]]):
            front.append(i)
            best_y = points[i][1]
    return sorted(front, key=lambda i: points[i][0])


def pareto_fronts(points: list[tuple[float, float]]) -> list[list[int]]:
    """Non-dominated sorting (both coordinates maximised): the first front, then the front of
    what is left, ...; each as increasing indices, every copy of a repeated point in its front."""
    left, fronts = list(range(len(points))), []
    while left:
        front = sorted(left[k] for k in pareto_front([points[i] for i in left], repeats=True))
        fronts.append(front)
        chosen = set(front)
        left = [i for i in left if i not in chosen]
    return fronts
