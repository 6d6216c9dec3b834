"""The hardware oracle: what the fast level says about an architecture, before any training.

Built from the run's own fast explorer, workload function and spec, so the strategy sees exactly
the verdict and metrics the loop will store (on the tabular benchmark, the cached table's
explorer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Spec
from coexplore.workload import Workload

if TYPE_CHECKING:
    from coexplore.search.strategy import StrategyContext


@dataclass(frozen=True)
class HardwareView:
    """An architecture as the fast level sees it."""

    feasible: bool  # a design of the pool meets the spec
    metrics: tuple[float, ...]  # the oracle's metrics in order (0.0 where there is no design)
    features: tuple[float, ...]  # log1p of the workload's MACs and parameters


@dataclass(frozen=True)
class HardwareOracle:
    explorer: Callable[[Any], OptimalExplorer]  # the explorer of an architecture's precision
    workload: Callable[[Any], Workload]
    spec: Spec
    metrics: tuple[str, ...]

    def __call__(self, arch: Any) -> HardwareView:
        workload = self.workload(arch)
        result = self.explorer(arch).explore(workload, self.spec)
        values = result.evaluation.metrics() if result.evaluation else {}
        return HardwareView(
            not result.pruned,
            tuple(float(values.get(m, 0.0)) for m in self.metrics),
            size_features(workload),
        )


def size_features(workload: Workload) -> tuple[float, ...]:
    """What the accuracy surrogate sees of a workload's size: log1p of its MACs and parameters."""
    return (math.log1p(workload.macs), math.log1p(workload.params))


def oracle_for(ctx: StrategyContext, metrics: tuple[str, ...] = ("fps",)) -> HardwareOracle:
    """The oracle of a run: its own explorer, workload function and spec."""
    return HardwareOracle(ctx.explorer_of, ctx.workload, ctx.spec, metrics)
