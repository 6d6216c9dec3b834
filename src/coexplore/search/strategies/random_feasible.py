"""Random search restricted to children the fast level lets through (spec-meeting ones)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from coexplore.search.strategies.oracle import HardwareOracle, oracle_for
from coexplore.search.strategy import Candidate, Outcome, Strategy, StrategyContext, StrategyEntry
from coexplore.spaces.base import SearchSpace

MAX_DRAWS = 1000  # per child: past this many pruned draws, the last one is proposed anyway


class RandomFeasibleStrategy(Strategy):
    """Uniform architectures, redrawn (no training, milliseconds each) until the hardware
    oracle says a design meets the spec: what random search is once the fast level exists."""

    def __init__(self, space: SearchSpace[Any], oracle: HardwareOracle, seed: int) -> None:
        self.space, self.oracle = space, oracle
        self.rng = np.random.default_rng(seed)
        self._feasible: dict[str, bool] = {}  # arch key -> verdict (memo)

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(self._draw()) for _ in range(n)]

    def _draw(self) -> Any:
        for _ in range(MAX_DRAWS):
            arch = self.space.sample(self.rng)
            if arch.key not in self._feasible:
                self._feasible[arch.key] = self.oracle(arch).feasible
            if self._feasible[arch.key]:
                return arch
        return arch

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        pass

    def state_bytes(self) -> bytes:
        return json.dumps(self.rng.bit_generator.state).encode()

    def load_state(self, blob: bytes) -> None:
        self.rng.bit_generator.state = json.loads(blob)


def _random_feasible(ctx: StrategyContext) -> Strategy:
    return RandomFeasibleStrategy(ctx.space, oracle_for(ctx), ctx.config.run.seed)


ENTRIES = (
    StrategyEntry(
        "random_feasible", _random_feasible, "uniform architectures the fast level lets through"
    ),
)
