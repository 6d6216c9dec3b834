"""The one registry of search strategies: name -> how to build it from a `StrategyContext`,
and the `Rules` that say what the method means for the problem.

A `Strategy` only asks and is told (coexplore.search.strategy); a method's explorer (its own,
e.g. hardware-aware NAS's fixed design, or the run's), whether the fast level prunes, its
reward and how its children are promoted between rungs are its `Rules`, which the loop reads.

The config's choices for `run.strategy`, the help of `coexplore compare`, the methods of
`coexplore.compare` and the dispatch in `coexplore.wiring` all come from `STRATEGIES`; adding a
strategy is one entry here (plus its docs and a contract case in tests/baselines).

The config imports this module for the names, and the config must load without torch or optuna
(the fast level runs in processes without them): so this module imports no strategy at import
time; each builder imports its strategy when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from coexplore.spaces.base import Registry

if TYPE_CHECKING:
    from coexplore.config import Config, ControllerConfig
    from coexplore.fast.optimal import OptimalExplorer
    from coexplore.hardware.devices import Pool, Precision, Spec
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
    indices: Any = None  # exhaustive: the architectures to walk (a table's); None: the space

    def workload(self, arch: Any) -> Workload:
        return self.space.workload(arch, self.input_shape, self.classes)

    def oracle(self, metrics: tuple[str, ...] = ("fps",)) -> HardwareOracle:
        from coexplore.search.oracle import HardwareOracle

        return HardwareOracle(self.explorer, self.workload, self.spec, metrics)

    def controller_settings(self) -> ControllerConfig:
        return self.config.controller


@dataclass(frozen=True)
class Rules:
    """What a method means for the problem; the loop reads it, the strategy never does."""

    name: str = ""  # the registry's name, stored with each trial
    explorer: Any = None  # an explorer of its own (a fixed design), else the run's
    prunes: bool = True  # False: a child no design fits is still trained (hardware judged after)
    accuracy_only: bool = False  # True: the reward is the normalised accuracy alone
    # Its own reward of (accuracy, metrics) (MnasNet's soft one); None: the run's Reward.
    reward: Callable[[float, Mapping[str, float]], float] | None = None
    # Multi-fidelity promotion (coexplore.search.fidelity): "reward" ranks the children at a
    # rung by the scalar reward; "front" by Pareto front in (accuracy, hardware metric), for
    # methods that optimise the two objectives themselves and have no scalar reward.
    promotion: Literal["reward", "front"] = "reward"


def _run_rules(ctx: StrategyContext) -> Rules:
    return Rules()


def _front_rules(ctx: StrategyContext) -> Rules:
    return Rules(promotion="front")


@dataclass(frozen=True)
class Method:
    """One registered strategy: how to build it, and its rules."""

    build: Callable[[StrategyContext], Strategy]
    summary: str  # one line for help texts
    rules: Callable[[StrategyContext], Rules] = _run_rules
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


def _arch_controller(ctx: StrategyContext) -> Strategy:
    """The controller over the architecture tokens only, whatever fast.mode says (the
    baselines built on it design the hardware their own way)."""
    from coexplore.search.strategy import ControllerStrategy

    return ControllerStrategy(ctx.space, ctx.controller_settings(), ctx.config.run.seed)


def _nas_rules(ctx: StrategyContext) -> Rules:
    return Rules(prunes=False, accuracy_only=True)


def _hwnas_rules(ctx: StrategyContext) -> Rules:
    from coexplore.search.baselines import fixed_explorer

    return Rules(explorer=fixed_explorer(ctx))


def _hwnas_soft_rules(ctx: StrategyContext) -> Rules:
    from coexplore.search.baselines import SoftReward, fixed_explorer

    explorer = fixed_explorer(ctx)
    reward = SoftReward(ctx.spec.fps, ctx.config.baseline.soft_weight)
    return Rules(explorer=explorer, prunes=False, reward=reward)


def _nsga2(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.nsga2 import Nsga2Strategy

    c = ctx.config
    return Nsga2Strategy(ctx.space, c.reward.metric, c.baseline.population, c.run.seed)


def _motpe(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.motpe import MotpeStrategy

    return MotpeStrategy(ctx.space, ctx.config.reward.metric, ctx.config.run.seed)


def _exhaustive(ctx: StrategyContext) -> Strategy:
    from coexplore.search.baselines.exhaustive import ExhaustiveStrategy

    return ExhaustiveStrategy(ctx.space, ctx.config.run.seed, ctx.indices)


STRATEGIES: Registry[Method] = Registry(
    "strategy",
    {
        "coexplore": Method(
            _coexplore, "surrogate frontier search over accuracy and hardware", _front_rules
        ),
        "rl": Method(_rl, "the paper's RL controller (co-exploration)"),
        "random": Method(_random, "uniform random architectures"),
        "random_feasible": Method(
            _random_feasible, "uniform architectures the fast level lets through"
        ),
        "nas": Method(
            _arch_controller,
            "Zoph-style NAS: accuracy alone, hardware designed afterwards",
            _nas_rules,
        ),
        "hwnas": Method(
            _arch_controller, "hardware-aware NAS on a fixed design, hard pruning", _hwnas_rules
        ),
        "hwnas_soft": Method(
            _arch_controller, "hardware-aware NAS, MnasNet's soft reward", _hwnas_soft_rules
        ),
        "nsga2": Method(_nsga2, "Optuna's NSGA-II over (accuracy, hardware metric)", _front_rules),
        "motpe": Method(_motpe, "Optuna's multi-objective TPE", _front_rules),
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


def build_method(name: str, ctx: StrategyContext) -> tuple[Strategy, Rules]:
    """The strategy `name` and its rules (named after it)."""
    method = STRATEGIES[name]
    return method.build(ctx), replace(method.rules(ctx), name=name)
