"""Exhaustive enumeration of a finite (tabular) space: the ground-truth "strategy"."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from coexplore.errors import InputError
from coexplore.search.strategy import Candidate, Outcome, Strategy, StrategyContext, StrategyEntry
from coexplore.spaces.base import SearchSpace
from coexplore.tabular.indexing import arch_at

MAX_EXHAUSTIVE = 5_000_000


class ExhaustiveStrategy(Strategy):
    """Every architecture of a finite space (or of `indices`, e.g. those a table lists) once,
    in a seeded random order; past the end the same order starts again (the loop then reuses
    the stored results)."""

    def __init__(
        self, space: SearchSpace[Any], seed: int, indices: np.ndarray | None = None
    ) -> None:
        if indices is None and space.size() > MAX_EXHAUSTIVE:
            raise InputError(
                f"exhaustive: the {space.name} space has {space.size():,} "
                f"architectures; at most {MAX_EXHAUSTIVE:,} can be enumerated"
            )
        walk = np.arange(space.size()) if indices is None else np.asarray(indices, np.int64)
        if len(walk) == 0:
            raise InputError("exhaustive: no architecture to enumerate")
        self.space, self.position = space, 0
        self.order = np.random.default_rng(seed).permutation(walk)

    def ask(self, n: int) -> list[Candidate]:
        at = [int(self.order[(self.position + k) % len(self.order)]) for k in range(n)]
        self.position += n
        return [Candidate(arch_at(self.space, index)) for index in at]

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        pass

    def state_bytes(self) -> bytes:
        return json.dumps({"position": self.position}).encode()

    def load_state(self, blob: bytes) -> None:
        position = json.loads(blob)["position"]
        if not isinstance(position, int) or position < 0:
            raise ValueError(f"exhaustive: bad position {position!r} in the stored state")
        self.position = position


def _exhaustive(ctx: StrategyContext) -> Strategy:
    return ExhaustiveStrategy(ctx.space, ctx.config.run.seed, ctx.indices)


ENTRIES = (
    StrategyEntry(
        "exhaustive", _exhaustive, "every architecture once (tabular ground truth)",
        configurable=False,
    ),
)  # fmt: skip
