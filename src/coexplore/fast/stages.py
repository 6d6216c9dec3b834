"""Exact queries about one stage (layers i..j on one device kind) for the optimiser.

Blocks (one <Tm, Tn, T> each) are visited in the order of a valid lower bound (fastest) or of
power (cheapest) and evaluated exactly a chunk at a time, stopping as soon as no unvisited block
can do better.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coexplore.workload import Workload

if TYPE_CHECKING:
    from coexplore.fast.optimal import OptimalExplorer

TIE = 1.0 + 1e-12  # relative slack when comparing times that are the same float


_CHUNK = 16  # blocks evaluated exactly in the first step of the branch and bound; doubles


def _chunks(order: np.ndarray) -> Iterator[np.ndarray]:
    start, size = 0, _CHUNK
    while start < len(order):
        yield order[start : start + size]
        start, size = start + size, size * 2


@dataclass(frozen=True)
class Pick:
    seconds: float
    power_w: float
    block: int
    split: int


class Stages:
    """Exact queries about stages (layers i..j) of one workload on one device kind.

    Blocks are visited in order of a valid lower bound (Q1) or of power (Q2) and evaluated
    exactly a chunk at a time, stopping as soon as no unvisited block can do better.
    """

    def __init__(
        self, explorer: OptimalExplorer, k: int, workload: Workload, windows: np.ndarray
    ) -> None:
        self.ex, self.k, self.windows = explorer, k, windows
        tables = [explorer._table(k, layer) for layer in workload.layers]
        self.full = [t[0] for t in tables]
        self.lows = np.cumsum([np.zeros_like(tables[0][1])] + [t[1] for t in tables], axis=0)
        self.hz = explorer._hz[k]

    def bounds(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(per-block lower bound in seconds, inf where the block does not fit; power per block)."""
        fits, power = self.ex._fit(self.k, *self.windows[i, j])
        low = (self.lows[j + 1] - self.lows[i]) / self.hz
        return np.where(fits, low, np.inf), power

    def exact(self, i: int, j: int, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cycles = self.full[i][blocks].copy()
        for table in self.full[i + 1 : j + 1]:
            cycles += table[blocks]
        split = np.argmin(cycles, axis=1)
        return cycles[np.arange(len(blocks)), split] / self.hz, split

    def fastest(self, i: int, j: int) -> float:
        """Q1: the stage's exact best time over all fitting tilings."""
        low, _ = self.bounds(i, j)
        order = np.argsort(low, kind="stable")
        order = order[np.isfinite(low[order])]
        best = np.inf
        for chunk in _chunks(order):
            if low[chunk[0]] > best * TIE:
                break
            best = min(best, float(self.exact(i, j, chunk)[0].min()))
        return best

    def cheapest(self, i: int, j: int, limit: float) -> Pick | None:
        """Q2: the least-power tiling whose exact time is <= limit (ties: lowest block index)."""
        low, power = self.bounds(i, j)
        order = self.ex._power_order(self.k, *self.windows[i, j])
        order = order[low[order] <= limit * TIE]
        for chunk in _chunks(order):
            seconds, split = self.exact(i, j, chunk)
            ok = np.flatnonzero(seconds <= limit * TIE)
            if len(ok):
                at = ok[0]
                return Pick(
                    float(seconds[at]), float(power[chunk[at]]), int(chunk[at]), int(split[at])
                )
        return None
