"""The true Pareto fronts of a tabular space (every architecture's accuracy and hardware known),
with the one front and hypervolume of `coexplore.results.pareto`.

For scores by network rather than by cell, give `true_front` the table of network accuracies
(`tabular.accuracy.network_means`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coexplore.results.pareto import Point, hypervolume, pareto_front
from coexplore.tabular.accuracy import AccuracyTable
from coexplore.tabular.hardware import HardwareTable


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
