"""Pareto fronts and the 2-D hypervolume, on any points or on stored trials.

Points are (hardware metric, accuracy), both maximised. The hypervolume is the area they
dominate above a reference point (docs/baselines.md): accuracy at a floor (the run's
`reward.acc_bounds` low, below which its reward is already -1; the default strategy uses a
quantile of the space instead), and for FPS the spec (a design below it does not count), for
GOPS/W and pipeline efficiency 0. Only trials that meet the spec count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coexplore.storage import TrialRecord, TrialState

Point = tuple[float, float]  # (hardware metric, accuracy)


def feasible_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Trained children that meet the spec (and so have hardware metrics and an accuracy)."""
    return [
        t
        for t in trials
        if t.state is TrialState.COMPLETE
        and t.meets_spec
        and "fps" in t.metrics
        and t.accuracy is not None
    ]


def pareto_front(points: Sequence[Point], repeats: bool = False) -> list[int]:
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


def pareto_fronts(points: Sequence[Point]) -> list[list[int]]:
    """Non-dominated sorting (both coordinates maximised): the first front, then the front of
    what is left, ...; each as increasing indices, every copy of a repeated point in its front."""
    left, fronts = list(range(len(points))), []
    while left:
        front = sorted(left[k] for k in pareto_front([points[i] for i in left], repeats=True))
        fronts.append(front)
        chosen = set(front)
        left = [i for i in left if i not in chosen]
    return fronts


def staircase(front: Sequence[Point], reference: Point) -> tuple[np.ndarray, np.ndarray]:
    """(levels, widths): the accuracies t_0 = ref_y < t_1 < ... < t_K of the points above the
    reference and, on (t_k, t_k+1] (t_K+1 = infinity), the largest hardware value G_k any point
    at least that accurate reaches (ref_x past the last): the boundary of the dominated area.
    O(n log n): by decreasing accuracy, a running maximum of the hardware value."""
    rx, ry = reference
    inside = sorted((y, x) for x, y in front if x > rx and y > ry)
    reach: dict[float, float] = {}  # accuracy level -> largest x of the points at least as good
    best = rx
    for y, x in reversed(inside):
        best = max(best, x)
        reach[y] = best
    tops = sorted(reach)
    return np.array([ry, *tops]), np.array([*(reach[y] for y in tops), rx])


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by `points` (maximising both) and bounded below by `reference`: by
    decreasing hardware value, each point that is more accurate than all before it adds the
    strip between its accuracy and theirs. A set and its Pareto front give the same sum, term
    for term (so a subset's hypervolume never exceeds the set's, not even by rounding)."""
    rx, ry = reference
    inside = sorted(((x, y) for x, y in points if x > rx and y > ry), reverse=True)
    area, best_y = 0.0, ry
    for x, y in inside:
        if y > best_y:
            area += (x - rx) * (y - best_y)
            best_y = y
    return area


def reference_metric(metric: str, spec_fps: float) -> float:
    """Where a hardware axis starts to count: the spec for FPS (a slower design is pruned),
    zero for the others."""
    return spec_fps if metric == "fps" else 0.0


def reference_point(metric: str, spec_fps: float, accuracy_floor: float) -> Point:
    """The hypervolume's reference point on the accuracy x `metric` plane."""
    return (reference_metric(metric, spec_fps), accuracy_floor)


def trial_points(trials: Sequence[TrialRecord], metric: str) -> list[Point]:
    """(metric, accuracy) of the trained children that meet the spec."""
    return [(t.metrics[metric], t.accuracy) for t in feasible_trials(list(trials))]  # type: ignore[misc]
