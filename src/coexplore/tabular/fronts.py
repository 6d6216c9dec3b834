"""Pareto fronts and 2-D hypervolume, for the true fronts of a table and for any set of trials.

Points are (hardware metric, accuracy), both maximised. The hypervolume is the area they
dominate above a reference point (decided, docs/baselines.md): accuracy `reward.acc_bounds` low
(the accuracy below which a run's reward is already -1), and for FPS the spec (a design below it
does not count), for GOPS/W and pipeline efficiency 0. Only points that meet the spec count.

For scores by network rather than by cell, give `true_front` the table of network accuracies
(`tabular.accuracy.network_means`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coexplore.pareto import feasible_trials, pareto_front
from coexplore.storage import TrialRecord
from coexplore.tabular.accuracy import AccuracyTable
from coexplore.tabular.hardware import HardwareTable

Point = tuple[float, float]  # (hardware metric, accuracy)


def reference_point(metric: str, spec_fps: float, accuracy_floor: float) -> Point:
    return (spec_fps if metric == "fps" else 0.0, accuracy_floor)


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by `points` (maximising both) and bounded below by `reference`."""
    rx, ry = reference
    inside = sorted(((x, y) for x, y in points if x > rx and y > ry), reverse=True)
    area, best_y = 0.0, ry
    for x, y in inside:  # by decreasing x: each point adds a strip above the best y so far
        if y > best_y:
            area += (x - rx) * (y - best_y)
            best_y = y
    return area


def trial_points(trials: Sequence[TrialRecord], metric: str) -> list[Point]:
    """(metric, accuracy) of the trained children that meet the spec."""
    return [(t.metrics[metric], t.metrics["accuracy"]) for t in feasible_trials(list(trials))]


@dataclass(frozen=True)
class TrueFront:
    """The exact front of a tabular space under a throughput spec."""

    metric: str
    points: tuple[Point, ...]  # the front, by increasing metric
    indices: tuple[int, ...]  # architecture index of each front point
    hypervolume: float
    feasible: int  # architectures that meet the spec


def true_front(
    accuracy: AccuracyTable, hardware: HardwareTable, metric: str, spec_fps: float, reference: Point
) -> TrueFront:
    """Every tabulated architecture with both accuracy and hardware, meeting `spec_fps`."""
    common, a_rows, h_rows = np.intersect1d(accuracy.indices, hardware.indices, return_indices=True)
    fps = hardware.metrics["fps"][h_rows]
    keep = (fps > 0) & (fps >= spec_fps)
    points = list(
        zip(
            hardware.metrics[metric][h_rows][keep].tolist(),
            accuracy.accuracy[a_rows][keep].tolist(),
            strict=True,
        )
    )
    indices = common[keep].tolist()
    front = pareto_front(points)
    return TrueFront(
        metric,
        tuple(points[i] for i in front),
        tuple(indices[i] for i in front),
        hypervolume(points, reference),
        int(keep.sum()),
    )
