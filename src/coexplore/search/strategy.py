"""Search strategies behind one ask/tell interface (Optuna style).

`ask(n)` proposes n candidates; `tell(candidates, outcomes)` reports how each trial ended (its
state, metrics and the run's reward of it). `state_bytes` / `load_state` make a strategy
resumable exactly. What a method means for the problem (its explorer, whether the fast level
prunes, its reward, its promotion rule) is not the strategy's: it is the `Rules` the strategy
registry (`coexplore.search.methods`) gives with it, and the loop reads those.

The state is stored in the run database, which may come from someone else: it is JSON (or
torch's weights-only format), never a pickle, so loading it cannot run code.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coexplore.config import ControllerConfig
from coexplore.fast.controller_mode import HardwareJudgement
from coexplore.search.controller import Controller
from coexplore.spaces.base import SearchSpace, TokenType
from coexplore.storage import TrialRecord, TrialState


@dataclass(frozen=True)
class Candidate:
    """What a strategy proposes: an architecture and, in controller mode, its hardware tokens
    with the hardware judgement the fast level reached for them."""

    arch: Any
    hw_tokens: tuple[int, ...] = ()
    judgement: HardwareJudgement | None = None
    hw_tries: int = 0


@dataclass(frozen=True)
class Outcome:
    """What a strategy is told of one candidate: how its trial ended (COMPLETE, PRUNED or
    FAILED), its metrics, whether its design meets the spec, and the reward the run gave it
    (the pruned reward, -1, when pruned or failed)."""

    state: TrialState
    reward: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    meets_spec: bool = False

    @classmethod
    def of(cls, record: TrialRecord) -> Outcome:
        reward = record.reward or 0.0  # every finished record has one; RUNNING is never told
        return cls(record.state, reward, record.metrics, record.meets_spec)


class Strategy(ABC):
    """A search method's sampler: ask, tell, and its own state; nothing of the problem."""

    @abstractmethod
    def ask(self, n: int) -> list[Candidate]: ...

    @abstractmethod
    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None: ...

    @abstractmethod
    def state_bytes(self) -> bytes: ...

    @abstractmethod
    def load_state(self, blob: bytes) -> None: ...


class RandomStrategy(Strategy):
    """Uniform random architectures (the fast level still prunes)."""

    def __init__(self, space: SearchSpace[Any], seed: int) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(self.space.sample(self.rng)) for _ in range(n)]

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
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
    times before the child is pruned. It learns from the reward the run gave each child
    (the registry's `rl`, `nas`, `hwnas` and `hwnas_soft` differ only in their `Rules`)."""

    def __init__(
        self,
        space: SearchSpace[Any],
        settings: ControllerConfig,
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

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        rows = [self.space.encode(c.arch) + c.hw_tokens for c in candidates]
        self.controller.update(rows, [o.reward for o in outcomes])

    def state_bytes(self) -> bytes:
        return self.controller.state_bytes()

    def load_state(self, blob: bytes) -> None:
        self.controller.load_state(blob)
