"""Search strategies behind one ask/tell interface (Optuna style).

`ask(n)` proposes n candidates; `tell(candidates, rewards)` reports what they earned.
`state_bytes` / `load_state` make a strategy resumable exactly. The state is stored in the run
database, which may come from someone else: it is JSON (or torch's weights-only format), never
a pickle, so loading it cannot run code.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coexplore.fast.controller_mode import HardwareJudgement
from coexplore.search.controller import Controller, ControllerSettings
from coexplore.spaces.base import SearchSpace, TokenType


@dataclass(frozen=True)
class Candidate:
    """What a strategy proposes: an architecture and, in controller mode, its hardware tokens
    with the hardware judgement the fast level reached for them."""

    arch: Any
    hw_tokens: tuple[int, ...] = ()
    judgement: HardwareJudgement | None = None
    hw_tries: int = 0


class Strategy(ABC):
    name: str = ""
    prunes: bool = True  # False: a pruned child is still trained (hardware designed afterwards)
    accuracy_only: bool = False  # True: the reward is accuracy alone
    explorer: Any = None  # an OptimalExplorer of its own (e.g. a fixed design), else the run's
    # Multi-fidelity promotion (coexplore.search.fidelity): "reward" ranks the children at a
    # rung by the scalar reward; "front" by Pareto front in (accuracy, hardware metric), for
    # strategies that optimise the two objectives themselves and have no scalar reward.
    promotion: str = "reward"

    def observe(self, records: list[Any]) -> None:  # noqa: B027 - optional hook
        """See every finished trial record of a batch before `tell` (multi-objective
        strategies such as NSGA-II need the metrics, not just the scalar reward)."""

    def reward_override(self, accuracy: float, metrics: dict[str, float]) -> float | None:
        """A strategy-specific reward (e.g. MnasNet's soft one); None keeps the run's reward."""
        return None

    @abstractmethod
    def ask(self, n: int) -> list[Candidate]: ...

    @abstractmethod
    def tell(self, candidates: list[Candidate], rewards: list[float]) -> None: ...

    @abstractmethod
    def state_bytes(self) -> bytes: ...

    @abstractmethod
    def load_state(self, blob: bytes) -> None: ...


class RandomStrategy(Strategy):
    """Uniform random architectures (the fast level still prunes)."""

    name = "random"

    def __init__(self, space: SearchSpace[Any], seed: int) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(self.space.sample(self.rng)) for _ in range(n)]

    def tell(self, candidates: list[Candidate], rewards: list[float]) -> None:
        pass

    def state_bytes(self) -> bytes:
        return json.dumps(self.rng.bit_generator.state).encode()

    def load_state(self, blob: bytes) -> None:
        self.rng.bit_generator.state = json.loads(blob)


Judge = Callable[[Any, tuple[int, ...]], HardwareJudgement]


class ControllerStrategy(Strategy):
    """The co-exploration controller (SPEC §5). In `optimal` fast mode it emits architecture
    tokens only; in `controller` mode it also emits hardware tokens, and the fast level
    re-samples those (updating the controller on a hardware-only reward) up to `hw_tries`
    times before the child is pruned. Strategy name `rl` (the default, `coexplore`, is
    `coexplore.search.frontier`)."""

    name = "rl"

    def __init__(
        self,
        space: SearchSpace[Any],
        settings: ControllerSettings,
        seed: int,
        hw_tokens: tuple[TokenType, ...] = (),
        judge: Judge | None = None,
        hw_tries: int = 10,
    ) -> None:
        self.space, self.judge, self.hw_tries = space, judge, hw_tries
        self.n_arch = len(space.token_types())
        self.controller = Controller(space.token_types() + hw_tokens, settings, seed)

    def ask(self, n: int) -> list[Candidate]:
        rows = self.controller.sample(n)
        return [self._candidate(row) for row in rows]

    def _candidate(self, row: tuple[int, ...]) -> Candidate:
        arch = self.space.decode(row[: self.n_arch])
        if self.judge is None:
            return Candidate(arch)
        hw_positions = slice(self.n_arch, None)
        for attempt in range(1, self.hw_tries + 1):
            judgement = self.judge(arch, row[self.n_arch :])
            if not judgement.reason or attempt == self.hw_tries:
                return Candidate(arch, row[self.n_arch :], judgement, attempt)
            self.controller.update([row], [judgement.reward], hw_positions)
            row = self.controller.sample(1, [row[: self.n_arch]])[0]
        raise AssertionError("unreachable")

    def tell(self, candidates: list[Candidate], rewards: list[float]) -> None:
        rows = [self.space.encode(c.arch) + c.hw_tokens for c in candidates]
        self.controller.update(rows, rewards)

    def state_bytes(self) -> bytes:
        return self.controller.state_bytes()

    def load_state(self, blob: bytes) -> None:
        self.controller.load_state(blob)
