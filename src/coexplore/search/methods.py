"""The one registry of search strategies: name -> how to build it from a `StrategyContext`.

The config's choices for `run.strategy`, the help of `coexplore compare`, the methods of
`coexplore.compare` and the dispatch in `coexplore.wiring` all come from `STRATEGIES`; adding a
strategy is one entry here (plus its docs and a contract case in tests/baselines).

The config imports this module for the names, and the config must load without torch or optuna
(the fast level runs in processes without them): so this module imports no strategy at import
time; each builder imports its strategy when it is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coexplore.spaces.base import Registry

if TYPE_CHECKING:
    from coexplore.config import Config
    from coexplore.fast.optimal import OptimalExplorer
    from coexplore.hardware.devices import Pool, Precision, Spec
    from coexplore.search.controller import ControllerSettings
    from coexplore.search.oracle import HardwareOracle
    from coexplore.search.strategy import Strategy
    from coexplore.spaces.base import SearchSpace
    from coexplore.workload import Workload


@dataclass(frozen=True)
class StrategyContext:
    """What every strategy is built from: the run's config and problem, and its fast explorer."""

    config: Config
    space: SearchSpace[Any]
    pool: Pool
    spec: Spec
    precision: Precision
    input_shape: tuple[int, int, int]
    classes: int
    explorer: OptimalExplorer  # the run's fast explorer

    def workload(self, arch: Any) -> Workload:
        return self.space.workload(arch, self.input_shape, self.classes)

    def oracle(self, metrics: tuple[str, ...] = ("fps",)) -> HardwareOracle:
        from coexplore.search.oracle import HardwareOracle

        return HardwareOracle(self.explorer, self.workload, self.spec, metrics)

    def controller_settings(self) -> ControllerSettings:
        from coexplore.config import to_dict
        from coexplore.search.controller import ControllerSettings

        return ControllerSettings(**to_dict(self.config)["controller"])


@dataclass(frozen=True)
class Method:
    """One registered strategy."""

    build: Callable[[StrategyContext], Strategy]
    summary: str  # one line for help texts
    configurable: bool = True  # False: no config names it (exhaustive: `coexplore compare` only)


def _coexplore(ctx: StrategyContext) -> Strategy:
    """The default strategy, on the planes of both headline metrics (and reward.metric)."""
    from coexplore.config import to_dict
    from coexplore.search.frontier import FrontierSettings, FrontierStrategy
    from coexplore.search.oracle import reference_metric

    metrics = tuple(dict.fromkeys(("fps", "gops_per_w", ctx.config.reward.metric)))
    references = tuple(reference_metric(m, ctx.spec.fps) for m in metrics)
    settings = FrontierSettings(**to_dict(ctx.config)["frontier"])
    return FrontierStrategy(
        ctx.space, ctx.oracle(metrics), references, settings, ctx.config.run.seed
    )


def _rl(ctx: StrategyContext) -> Strategy:
    """The paper's controller; in `controller` fast mode it also samples the hardware."""
    import numpy as np

    from coexplore.fast.controller_mode import hardware_tokens, judge_tokens
    from coexplore.search.strategy import ControllerStrategy

    seed, settings = ctx.config.run.seed, ctx.controller_settings()
    if ctx.config.fast.mode == "optimal":
        return ControllerStrategy(ctx.space, settings, seed)
    max_layers = len(ctx.workload(ctx.space.sample(np.random.default_rng(seed))))

    def judge(arch: Any, tokens: tuple[int, ...]) -> Any:
        return judge_tokens(tokens, ctx.workload(arch), ctx.pool, ctx.spec, ctx.precision)

    return ControllerStrategy(
        ctx.space,
        settings,
        seed,
        hardware_tokens(ctx.pool, max_layers),
        judge,
        ctx.config.fast.hw_tries,
    )


def _random(ctx: StrategyContext) -> Strategy:
    from coexplore.search.strategy import RandomStrategy

    return RandomStrategy(ctx.space, ctx.config.run.seed)


def _random_feasible(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.random_feasible import RandomFeasibleStrategy

    return RandomFeasibleStrategy(ctx.space, ctx.oracle(), ctx.config.run.seed)


def _nas(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines import NasStrategy

    return NasStrategy(ctx.space, ctx.controller_settings(), ctx.config.run.seed)


def _hwnas(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines import HwNasStrategy, fixed_explorer

    return HwNasStrategy(
        ctx.space, ctx.controller_settings(), ctx.config.run.seed, fixed_explorer(ctx)
    )


def _hwnas_soft(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines import SoftHwNasStrategy, fixed_explorer

    return SoftHwNasStrategy(
        ctx.space,
        ctx.controller_settings(),
        ctx.config.run.seed,
        fixed_explorer(ctx),
        ctx.spec.fps,
        ctx.config.baseline.soft_weight,
    )


def _nsga2(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.nsga2 import Nsga2Strategy

    c = ctx.config
    return Nsga2Strategy(ctx.space, c.reward.metric, c.baseline.population, c.run.seed)


def _motpe(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.motpe import MotpeStrategy

    return MotpeStrategy(ctx.space, ctx.config.reward.metric, ctx.config.run.seed)


def _exhaustive(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.exhaustive import ExhaustiveStrategy

    return ExhaustiveStrategy(ctx.space, ctx.config.run.seed)


STRATEGIES: Registry[Method] = Registry(
    "strategy",
    {
        "coexplore": Method(_coexplore, "surrogate frontier search over accuracy and hardware"),
        "rl": Method(_rl, "the paper's RL controller (co-exploration)"),
        "random": Method(_random, "uniform random architectures"),
        "random_feasible": Method(
            _random_feasible, "uniform architectures the fast level lets through"
        ),
        "nas": Method(_nas, "Zoph-style NAS: accuracy alone, hardware designed afterwards"),
        "hwnas": Method(_hwnas, "hardware-aware NAS on a fixed design, hard pruning"),
        "hwnas_soft": Method(_hwnas_soft, "hardware-aware NAS, MnasNet's soft reward"),
        "nsga2": Method(_nsga2, "Optuna's NSGA-II over (accuracy, hardware metric)"),
        "motpe": Method(_motpe, "Optuna's multi-objective TPE"),
        "exhaustive": Method(
            _exhaustive, "every architecture once (tabular ground truth)", configurable=False
        ),
    },
)


def configurable() -> tuple[str, ...]:
    """The names `run.strategy` accepts, in registry order."""
    return tuple(name for name, method in STRATEGIES.items() if method.configurable)


def build_strategy(name: str, ctx: StrategyContext) -> Strategy:
    """The strategy `name` (UnknownName listing the valid names otherwise)."""
    return STRATEGIES[name].build(ctx)
