"""Hardware-aware NAS (FNAS, MnasNet): the hardware is fixed up front, only the network is searched.

- `hwnas`: the fixed hardware is the optimal design of a reference architecture; per child
  only the layer partition over that pipeline adapts (`coexplore.fast.fixed_pipeline`).
  FNAS-style hard pruning and the run's reward.
- `hwnas_soft`: the same fixed hardware, no pruning, MnasNet's soft reward.
Both sample architectures with the RL controller (its [controller] section) and read [hwnas].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coexplore.config import Section, setting
from coexplore.errors import InputError
from coexplore.fast.fixed_pipeline import FixedPipelineExplorer
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Precision, Spec
from coexplore.hardware.pipeline import HardwareDesign
from coexplore.search.reward import PRUNED_REWARD
from coexplore.search.strategies.controller import ControllerSettings
from coexplore.search.strategies.rl import architecture_controller
from coexplore.search.strategy import Rules, StrategyContext, StrategyEntry
from coexplore.workload import Workload


@dataclass(frozen=True)
class HwnasSettings(Section):
    """Hardware-aware NAS: the design fixed up front, and the soft reward's weight."""

    SECTION = "hwnas"

    reference: str = setting(
        "", "architecture JSON whose optimal design is fixed up front ('': the space's middle)"
    )
    soft_weight: float = setting(
        -0.07, "hwnas_soft: reward = acc * (spec / fps) ** w (MnasNet's (LAT/T)^w)", low=None
    )


def reference_workload(ctx: StrategyContext) -> Workload:
    """`hwnas.reference` (an architecture file), else the middle of the space: every token
    at choice index len(choices) // 2 (NAS-Bench-201: nor_conv_1x1 on every edge)."""
    reference = ctx.settings(HwnasSettings).reference
    if reference:
        from coexplore.archfile import load_arch_file

        return load_arch_file(Path(reference), ctx.input_shape, ctx.classes).workload
    middle = tuple(len(t.choices) // 2 for t in ctx.space.token_types())
    return ctx.space.workload(ctx.space.decode(middle), ctx.input_shape, ctx.classes)


def fixed_design(ctx: StrategyContext, precision: Precision) -> HardwareDesign:
    """The design hardware-aware NAS keeps: the fastest one for the reference architecture."""
    result = OptimalExplorer(ctx.pool, Spec(), precision).explore(reference_workload(ctx))
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


def fixed_explorer(ctx: StrategyContext, precision: Precision) -> FixedPipelineExplorer:
    """The explorer of hardware-aware NAS: per child, only the partition over `fixed_design`
    (one fixed design per precision the run searches)."""
    return FixedPipelineExplorer(fixed_design(ctx, precision), ctx.pool, ctx.spec)


def _fixed_rules(ctx: StrategyContext) -> dict[str, Any]:
    others = {p: fixed_explorer(ctx, Precision(p)) for p in ctx.explorers}
    return {"explorer": fixed_explorer(ctx, ctx.precision), "explorers": others}


def _hard_rules(ctx: StrategyContext) -> Rules:
    return Rules(**_fixed_rules(ctx))


def _soft_rules(ctx: StrategyContext) -> Rules:
    reward = SoftReward(ctx.spec.fps, ctx.settings(HwnasSettings).soft_weight)
    return Rules(**_fixed_rules(ctx), prunes=False, reward=reward)


_SECTIONS = (ControllerSettings, HwnasSettings)
ENTRIES = (
    StrategyEntry(
        "hwnas", architecture_controller, "hardware-aware NAS on a fixed design, hard pruning",
        _hard_rules, _SECTIONS,
    ),
    StrategyEntry(
        "hwnas_soft", architecture_controller, "hardware-aware NAS, MnasNet's soft reward",
        _soft_rules, _SECTIONS,
    ),
)  # fmt: skip
