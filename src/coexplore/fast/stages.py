"""Exact queries about the stages (layers i..j on one device kind) of one workload.

A stage's cycles on a tiling are the sum of its layers' cycles, and the model's cost of a layer
depends on its shape only, so a stage is a vector of counts per distinct shape: summing its
tables costs one step per distinct shape, however long the stage. All sums are of whole numbers
of cycles held exactly in float64 (below 2**53), so the order of summation never changes a value.

Three levels per stage, each a valid lower bound of the next:
- `group_bounds`: for all stages at once, the least summed cycles over the explorer's time
  columns (PE arrays, or the skyline of tilings, which makes it exact: see
  `OptimalExplorer._time_columns`);
- `bounds`: per block <Tm, Tn, T>, the summed per-layer best over port splits;
- `exact`: per block, the best common port split.
`fastest` and `cheapest` visit blocks in order of their bound (time) or of power, evaluate them
exactly a chunk at a time and stop as soon as no unvisited block can do better.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from coexplore.workload import Layer, Workload

if TYPE_CHECKING:
    from coexplore.fast.optimal import OptimalExplorer

TIE = 1.0 + 1e-12  # relative slack when comparing times that are the same float
Window = tuple[int, int]  # (Kmax, Smax) that size a stage's buffers
_CHUNK = 16  # blocks evaluated exactly in the first step of the branch and bound; doubles


@dataclass(frozen=True, eq=False)
class LayerShapes:
    """A workload's layers by distinct shape (first-seen order), with prefix counts."""

    keys: tuple[tuple[object, ...], ...]  # the distinct shape keys, first seen first
    layers: tuple[Layer, ...]  # one layer of each
    counts: np.ndarray  # [n + 1, shapes] float64: layers of each shape among layers 0..i-1
    slots: np.ndarray  # [n] int64: the shape of each layer

    @classmethod
    def of(cls, workload: Workload) -> LayerShapes:
        slots: dict[tuple[object, ...], int] = {}
        reps: list[Layer] = []
        slot = np.empty(len(workload), dtype=np.int64)
        for index, layer in enumerate(workload.layers):
            key = layer.shape_key()
            if key not in slots:
                slots[key] = len(reps)
                reps.append(layer)
            slot[index] = slots[key]
        onehot = np.zeros((len(workload) + 1, len(reps)))
        onehot[np.arange(1, len(workload) + 1), slot] = 1.0
        return cls(tuple(slots), tuple(reps), np.cumsum(onehot, axis=0), slot)

    def prefix(self, per_shape: np.ndarray) -> np.ndarray:
        """[n + 1, column]: sums over layers 0..i-1 of their shape's row of `per_shape`
        ([shape, column] whole numbers, so the sums are exact). A running sum, not a matrix
        product: BLAS would start threads for it, which a busy machine pays dearly."""
        out = np.zeros((len(self.slots) + 1, per_shape.shape[1]))
        np.cumsum(per_shape[self.slots], axis=0, out=out[1:])
        return out

    @cached_property
    def key_set(self) -> frozenset[tuple[object, ...]]:
        return frozenset(self.keys)

    def __iter__(self) -> Iterator[tuple[tuple[object, ...], Layer]]:
        return zip(self.keys, self.layers, strict=True)

    def between(self, i: int, j: int) -> np.ndarray:
        """Layers of each shape among layers i..j."""
        return self.counts[j + 1] - self.counts[i]


def stage_windows(workload: Workload) -> np.ndarray:
    """windows[i, j] = (Kmax, Smax) of the buffer-sizing layers among layers i..j (1, 1 if none)."""
    n = len(workload)
    sized = np.array([layer.uses_window_buffers for layer in workload.layers])
    kernel = np.where(sized, [layer.kernel for layer in workload.layers], 1)
    stride = np.where(sized, [layer.stride for layer in workload.layers], 1)
    later = np.triu(np.ones((n, n), dtype=bool))  # [i, j]: layer j is in stage i..j
    return np.stack(
        [np.maximum.accumulate(np.where(later, v[None, :], 1), axis=1) for v in (kernel, stride)],
        axis=2,
    )


def skyline(values: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Indices of the columns of `values` ([criterion, column]) that no other column matches
    or beats on every criterion (of equal columns the first is kept), in order of their sums:
    the least of any non-negative weighted sum is found among them."""
    order = np.argsort(values.sum(axis=0), kind="stable")
    columns = values[:, order].T
    kept = np.zeros(0, dtype=np.int64)
    for start in range(0, len(columns), chunk):  # a column is only beaten by earlier ones
        part = np.arange(start, min(start + chunk, len(columns)))
        mine = columns[part]
        earlier = np.tril(np.all(mine[None, :, :] <= mine[:, None, :], axis=2), k=-1)
        beaten = earlier.any(axis=1)
        if len(kept):
            beaten |= np.all(columns[kept][None, :, :] <= mine[:, None, :], axis=2).any(axis=1)
        kept = np.concatenate([kept, part[~beaten]])
    return order[kept]


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
    """Exact queries about stages of one workload on device kind k."""

    def __init__(
        self, explorer: OptimalExplorer, k: int, shapes: LayerShapes, windows: np.ndarray
    ) -> None:
        self.ex, self.k, self.shapes, self.windows = explorer, k, shapes, windows
        tables = [explorer._shape_table(k, key, layer) for key, layer in shapes]
        self.full = [t[0] for t in tables]  # per shape: cycles [block, split]
        self.lows = np.stack([t[1] for t in tables])  # per shape: cycles [block], best split
        self.hz = explorer._hz[k]
        self._fastest: dict[tuple[int, int], float] = {}
        self._sums: dict[Window, tuple[np.ndarray, np.ndarray]] = {}
        self._prefix: np.ndarray | None = None  # [n + 1, window * array] (`_array_columns`)
        self._groups: list[tuple[Window, np.ndarray, np.ndarray]] | None = None

    # -- all stages at once --------------------------------------------------------------------

    def group_bounds(self) -> np.ndarray:
        """[i, j]: a lower bound on the stage's time (inf where no block fits its window)."""
        n = len(self.shapes.counts) - 1
        out = np.full((n, n), np.inf)
        for window, first, last in self._windows():
            least = self.ex._time_columns(self.k, window, self.shapes, len(first))
            sums = self._array_sums(window)[0] if least is None else self.shapes.prefix(least)
            if sums.shape[1]:  # [n + 1, column]: exact whole-cycle prefix sums
                out[first, last] = (sums[last + 1] - sums[first]).min(axis=1) / self.hz
        return out

    def least_power_bounds(self, ii: float, wanted: np.ndarray) -> np.ndarray:
        """[i, j] where `wanted`: a lower bound on the stage's power within time ii, the least
        power of a PE array whose group bound meets ii; inf elsewhere."""
        n = len(self.shapes.counts) - 1
        out = np.full((n, n), np.inf)
        for window, first, last in self._windows():
            rows = wanted[first, last]
            if not rows.any():
                continue
            first, last = first[rows], last[rows]
            sums, power = self._array_sums(window)
            if sums.shape[1]:
                ok = (sums[last + 1] - sums[first]) / self.hz <= ii * TIE
                out[first, last] = np.min(np.where(ok, power, np.inf), axis=1)
        return out

    def _array_sums(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(prefix sums over layers of each shape's least cycles per PE array that has a block
        that fits `window`, [n + 1, array]; the arrays' least power)."""
        if window not in self._sums:
            if self._prefix is None:
                for known, _, _ in self._windows():  # every window of the workload first
                    self.ex._window_index(self.k, known)
            columns, power = self.ex._power_columns(self.k, window)
            if self._prefix is None or self._prefix.shape[1] <= columns.max(initial=-1):
                least, _ = self.ex._array_columns(self.k, self.shapes)
                self._prefix = self.shapes.prefix(least)  # exact whole-cycle sums
            self._sums[window] = (self._prefix[:, columns], power)
        return self._sums[window]

    def _windows(self) -> list[tuple[Window, np.ndarray, np.ndarray]]:
        """All stages (i <= j) grouped by buffer window: (window, firsts, lasts)."""
        if self._groups is None:
            first, last = np.triu_indices(len(self.shapes.counts) - 1)
            code = self.windows[first, last] @ np.array([1 << 20, 1])
            values, which = np.unique(code, return_inverse=True)
            order = np.argsort(which, kind="stable")
            ends = np.cumsum(np.bincount(which, minlength=len(values)))
            self._groups = [
                ((int(v >> 20), int(v & ((1 << 20) - 1))), first[rows], last[rows])
                for v, rows in zip(values, np.split(order, ends[:-1]), strict=True)
            ]
        return self._groups

    # -- one stage -----------------------------------------------------------------------------

    def bounds(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(per-block lower bound in seconds, inf where the block does not fit; power per block)."""
        fits, power = self.ex._fit(self.k, *self.windows[i, j])
        counts = self.shapes.between(i, j)
        low = self._weighted(counts, np.flatnonzero(counts)) / self.hz
        return np.where(fits, low, np.inf), power

    def exact(self, i: int, j: int, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(exact seconds at the best port split, that split) of the given blocks."""
        counts = self.shapes.between(i, j)
        cycles = self._cycles(counts, np.flatnonzero(counts), blocks)
        split = np.argmin(cycles, axis=1)
        return cycles[np.arange(len(blocks)), split] / self.hz, split

    def _cycles(self, counts: np.ndarray, present: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """[block, split]: the stage's cycles (whole numbers, so exact in any order)."""
        first, *others = present.tolist()
        cycles = counts[first] * self.full[first][blocks]
        for shape in others:
            cycles += counts[shape] * self.full[shape][blocks]
        return cycles

    def _weighted(self, counts: np.ndarray, present: np.ndarray) -> np.ndarray:
        """[block]: the stage's summed per-layer least cycles (a lower bound of its cycles)."""
        first, *others = present.tolist()
        low = counts[first] * self.lows[first]
        for shape in others:
            low += counts[shape] * self.lows[shape]
        return low

    def _window_of(self, i: int, j: int) -> Window:
        kmax, smax = self.windows[i, j].tolist()
        return kmax, smax

    def fastest(self, i: int, j: int) -> float:
        """Q1: the stage's exact best time over all fitting tilings."""
        if (i, j) not in self._fastest:
            self._fastest[(i, j)] = self._fastest_now(i, j)
        return self._fastest[(i, j)]

    def _fastest_now(self, i: int, j: int) -> float:
        """Blocks by increasing bound, a chunk at a time, until no bound is below the best;
        in cycles (the least of cycles / F is the least cycles / F)."""
        blocks = self.ex._fit_blocks(self.k, self._window_of(i, j))
        if not len(blocks):
            return np.inf
        counts = self.shapes.between(i, j)
        present = np.flatnonzero(counts)
        low = self._weighted(counts, present)[blocks]
        # the lowest bounds first: usually they hold the best
        order = np.argpartition(low, _CHUNK) if len(low) > _CHUNK else np.arange(len(low))
        best = self._cycles(counts, present, blocks[order[:_CHUNK]]).min()
        rest = order[_CHUNK:]
        rest = rest[low[rest] <= best * TIE]
        for chunk in _chunks(rest[np.argsort(low[rest], kind="stable")]):
            if low[chunk[0]] > best * TIE:
                break
            best = min(best, self._cycles(counts, present, blocks[chunk]).min())
        return float(best) / self.hz

    def cheapest(self, i: int, j: int, limit: float) -> Pick | None:
        """Q2: the least-power tiling whose exact time is <= limit (ties: lowest block index)."""
        window = self._window_of(i, j)
        order = self.ex._power_order(self.k, *window)
        counts = self.shapes.between(i, j)
        present = np.flatnonzero(counts)
        order = order[self._weighted(counts, present)[order] / self.hz <= limit * TIE]
        for chunk in _chunks(order):
            cycles = self._cycles(counts, present, chunk)
            seconds = cycles.min(axis=1) / self.hz
            ok = np.flatnonzero(seconds <= limit * TIE)
            if len(ok):
                at = int(ok[0])
                power = self.ex._fit(self.k, *window)[1]
                split = int(np.argmin(cycles[at]))
                return Pick(float(seconds[at]), float(power[chunk[at]]), int(chunk[at]), split)
        return None
