"""The baselines the paper compares with (SPEC §6), behind the same ask/tell `Strategy`; what
each means for the problem (its explorer, pruning, reward) is its `Rules` in the registry
(`coexplore.search.methods`).

- `nas`: Zoph-style NAS. The controller is rewarded on accuracy alone and nothing is pruned; the
  loop designs the hardware afterwards and records whether it meets the spec.
- `hwnas`: hardware-aware NAS. The hardware is fixed up front (the optimal design of a
  reference architecture); per child only the layer partition over that pipeline adapts.
  FNAS-style hard pruning and the run's reward.
- `hwnas_soft`: the same fixed hardware, no pruning, MnasNet's soft reward.
- `nsga2`: Optuna's NSGA-II over the tokens, maximising (accuracy, hardware metric).
- `motpe`: Optuna's multi-objective TPE, the same objectives (state as JSON).
- `random_feasible`: uniform architectures, redrawn until the fast level lets them through.
- `exhaustive`: every architecture of a finite (tabular) space once, in a seeded order.

Modules: `fixed` (the fixed-pipeline explorer of hardware-aware NAS), `nsga2`, `motpe`,
`random_feasible`, `exhaustive` (the ground truth of the tabular benchmark). Each is built by
its entry in the one strategy registry, `coexplore.search.methods.STRATEGIES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coexplore.errors import InputError
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Spec
from coexplore.hardware.pipeline import HardwareDesign
from coexplore.search.baselines.exhaustive import ExhaustiveStrategy
from coexplore.search.baselines.fixed import FixedPipelineExplorer
from coexplore.search.baselines.motpe import MotpeStrategy
from coexplore.search.baselines.nsga2 import Nsga2Strategy
from coexplore.search.baselines.random_feasible import RandomFeasibleStrategy
from coexplore.search.methods import StrategyContext
from coexplore.search.reward import PRUNED_REWARD
from coexplore.workload import Workload

__all__ = [
    "ExhaustiveStrategy",
    "FixedPipelineExplorer",
    "MotpeStrategy",
    "Nsga2Strategy",
    "RandomFeasibleStrategy",
    "SoftReward",
    "fixed_design",
    "fixed_explorer",
    "reference_workload",
]


def reference_workload(ctx: StrategyContext) -> Workload:
    """`baseline.reference` (an architecture file), else the middle of the space: every token
    at choice index len(choices) // 2 (NAS-Bench-201: nor_conv_1x1 on every edge)."""
    if ctx.config.baseline.reference:
        from coexplore.archfile import load_arch_file

        path = Path(ctx.config.baseline.reference)
        return load_arch_file(path, ctx.input_shape, ctx.classes).workload
    middle = tuple(len(t.choices) // 2 for t in ctx.space.token_types())
    return ctx.space.workload(ctx.space.decode(middle), ctx.input_shape, ctx.classes)


def fixed_design(ctx: StrategyContext) -> HardwareDesign:
    """The design hardware-aware NAS keeps: the fastest one for the reference architecture."""
    result = OptimalExplorer(ctx.pool, Spec(), ctx.precision).explore(reference_workload(ctx))
    if result.design is None:
        raise InputError(f"hwnas: the reference architecture fits no design: {result.reason}")
    return result.design


@dataclass(frozen=True)
class SoftReward:
    """MnasNet's soft constraint: reward = acc * (LAT / T) ** w = acc * (spec / fps) ** w with
    w < 0: a child faster than the spec earns a little more, a slower one a little less."""

    spec_fps: float
    weight: float

    def __post_init__(self) -> None:
        if self.spec_fps <= 0:
            raise InputError(
                "hwnas_soft: the soft reward acc * (spec / fps) ** w needs spec.fps > 0"
            )

    def __call__(self, accuracy: float, metrics: Mapping[str, float]) -> float:
        fps = metrics.get("fps", 0.0)
        if fps <= 0.0:
            return PRUNED_REWARD  # the fixed hardware cannot run it at all
        return accuracy * (self.spec_fps / fps) ** self.weight


def fixed_explorer(ctx: StrategyContext) -> FixedPipelineExplorer:
    """The explorer of hardware-aware NAS: per child, only the partition over `fixed_design`."""
    return FixedPipelineExplorer(fixed_design(ctx), ctx.pool, ctx.spec)
