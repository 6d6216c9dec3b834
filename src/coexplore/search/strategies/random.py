"""Uniform random architectures (`random`; the fast level still prunes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from coexplore.search.strategy import Candidate, Outcome, Strategy, StrategyContext, StrategyEntry
from coexplore.spaces.base import SearchSpace


class RandomStrategy(Strategy):
    """Uniform random architectures, from a seeded generator."""

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


def _random(ctx: StrategyContext) -> Strategy:
    return RandomStrategy(ctx.space, ctx.config.run.seed)


ENTRIES = (StrategyEntry("random", _random, "uniform random architectures"),)
