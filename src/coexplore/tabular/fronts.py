"""The true Pareto fronts of a tabular space (every architecture's accuracy and hardware known),
with the one front and hypervolume of `coexplore.results.pareto`.

`identical_best` scores a search by the networks it found rather than by the training noise of
the copy it drew: see its docstring.
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


def identical_best(
    accuracy: AccuracyTable, hardware: HardwareTable, metric: str
) -> dict[int, float]:
    """Per tabulated architecture index: the best accuracy the table records for any cell
    that computes the same network (`AccuracyTable.computation`) with the same `metric`
    value, so the same point on the accuracy x `metric` plane but for training noise.

    NAS-Bench-201's 15,625 cells compute 6,466 distinct networks, and NATS-Bench trained every
    cell separately: on the true fronts most points are the luckiest of 2 to 17 copies, up to
    0.8 % above the next. A search that trained another copy found the same network; crediting
    it with the best copy's accuracy measures what it found, not the noise it drew. Each such
    credited point is a real (metric, accuracy) of the table, so a credited hypervolume never
    exceeds the true front's. Without computation ids every cell keeps its own accuracy."""
    common, a_rows, h_rows = np.intersect1d(accuracy.indices, hardware.indices, return_indices=True)
    own = accuracy.accuracy[a_rows]
    if accuracy.computation is None:
        return dict(zip(common.tolist(), own.tolist(), strict=True))
    keys = list(
        zip(
            accuracy.computation[a_rows].tolist(),
            hardware.metrics[metric][h_rows].tolist(),
            strict=True,
        )
    )
    best: dict[tuple[int, float], float] = {}
    for key, value in zip(keys, own.tolist(), strict=True):
        best[key] = max(best.get(key, value), value)
    return {index: best[key] for index, key in zip(common.tolist(), keys, strict=True)}
