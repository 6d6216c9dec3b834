"""The strategy interface (Optuna style): what every search strategy is and is built from.

A `Strategy` proposes and is told: `ask(n)` proposes n candidates; `tell(candidates, outcomes)`
reports how each trial ended (its state, metrics and the run's reward of it). `state_bytes` /
`load_state` make it resumable exactly. What a strategy means for the problem (its explorer,
whether the fast level prunes, its reward, its promotion rule) is not the strategy's own state:
it is the `Rules` its registry entry (`StrategyEntry`) gives with it, and the loop reads those.

The state is stored in the run database, which may come from someone else: it is JSON (or
torch's weights-only format), never a pickle, so loading it cannot run code.

The strategies themselves are modules of `coexplore.search.strategies`, each declaring its
`StrategyEntry`s there; the package finds them (docs/layout.md, "Where to add").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from coexplore.config import Config, Section
from coexplore.fast.controller_mode import HardwareJudgement
from coexplore.hardware.devices import Precision
from coexplore.storage import TrialRecord, TrialState

if TYPE_CHECKING:
    from coexplore.fast.optimal import OptimalExplorer
    from coexplore.hardware.devices import Pool, Spec
    from coexplore.spaces.base import SearchSpace
    from coexplore.workload import Workload


@dataclass(frozen=True)
class Candidate:
    """What a strategy proposes: an architecture and, in controller mode, its hardware tokens
    with the hardware judgement the fast level already reached for them."""

    arch: Any
    hw_tokens: tuple[int, ...] = ()
    judgement: HardwareJudgement | None = None
    hw_tries: int = 0


@dataclass(frozen=True)
class Outcome:
    """What a strategy is told of one candidate: how its trial ended (COMPLETE, PRUNED or
    FAILED), its accuracy (None unless COMPLETE), its hardware metrics, whether its design
    meets the spec, and the reward the run gave it (the pruned reward, -1, when pruned or
    failed)."""

    state: TrialState
    reward: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    meets_spec: bool = False
    accuracy: float | None = None
    # Its network's accuracy at every precision of the run (a pair of it at another precision
    # is known without training).
    accuracy_at: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, record: TrialRecord) -> Outcome:
        reward = record.reward or 0.0  # every finished record has one; RUNNING is never told
        return cls(
            record.state, reward, record.metrics, record.meets_spec, record.accuracy,
            record.accuracy_at,
        )  # fmt: skip


class Strategy(ABC):
    """A search strategy's sampler: ask, tell, and its own state; nothing of the problem."""

    @abstractmethod
    def ask(self, n: int) -> list[Candidate]: ...

    @abstractmethod
    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None: ...

    @abstractmethod
    def state_bytes(self) -> bytes: ...

    @abstractmethod
    def load_state(self, blob: bytes) -> None: ...


S = TypeVar("S", bound=Section)


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
    explorer: OptimalExplorer  # the run's fast explorer (at `precision`)
    indices: Any = None  # exhaustive: the architectures to walk (a table's); None: the space
    explorers: Mapping[str, Any] = field(default_factory=dict)  # at the run's other precisions

    def workload(self, arch: Any) -> Workload:
        return self.space.workload(arch, self.input_shape, self.classes)

    def precision_of(self, arch: Any) -> Precision:
        """The precision `arch` is computed at: its own where the space chooses it."""
        return Precision(self.space.precision_of(arch) or self.precision)

    def explorer_of(self, arch: Any) -> OptimalExplorer:
        """The fast explorer at `arch`'s precision."""
        return self.explorers.get(self.precision_of(arch).value, self.explorer)

    def settings(self, cls: type[S]) -> S:
        """The config section `cls` declares (`cls.SECTION`), with its defaults."""
        return self.config.component(cls.SECTION, cls)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Rules:
    """What a strategy means for the problem; the loop reads it, the strategy never does."""

    name: str = ""  # the registry's name, stored with each trial
    explorer: Any = None  # an explorer of its own (a fixed design), else the run's
    explorers: Mapping[str, Any] = field(default_factory=dict)  # its own at other precisions
    prunes: bool = True  # False: a child no design fits is still trained (hardware judged after)
    accuracy_only: bool = False  # True: the reward is the normalised accuracy alone
    # Its own reward of (accuracy, metrics) (MnasNet's soft one); None: the run's Reward.
    reward: Callable[[float, Mapping[str, float]], float] | None = None
    # Multi-fidelity promotion (coexplore.search.fidelity): "reward" ranks the children at a
    # rung by the scalar reward; "front" by Pareto front in (accuracy, hardware metric), for
    # strategies that optimise the two objectives themselves and have no scalar reward.
    promotion: Literal["reward", "front"] = "reward"


def run_rules(ctx: StrategyContext) -> Rules:
    """The run's own rules: prune on the spec, the run's reward, promotion by reward."""
    return Rules()


def front_rules(ctx: StrategyContext) -> Rules:
    """For strategies that optimise accuracy and hardware as two objectives."""
    return Rules(promotion="front")


@dataclass(frozen=True)
class StrategyEntry:
    """One registered strategy: its name, how to build it, one line for help texts, its rules,
    and the config sections it reads (each a `Section` class; a section may be shared)."""

    name: str
    build: Callable[[StrategyContext], Strategy]
    summary: str
    rules: Callable[[StrategyContext], Rules] = run_rules
    settings: tuple[type[Section], ...] = ()
    configurable: bool = True  # False: no config names it (exhaustive: `coexplore compare` only)
