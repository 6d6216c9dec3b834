"""Exact queries about the stages (layers i..j on one device kind) of one workload.

A stage's cycles on a tiling are the sum of its layers' cycles, and the model's cost of a layer
depends on its shape only, so a stage is a vector of counts per distinct shape: summing its
tables costs one step per distinct shape, however long the stage. All sums are of whole numbers
of cycles held exactly in float64 (below 2**53), so the order of summation never changes a value.

Three levels per stage, each a valid lower bound of the next:
- `group_bounds`: for all stages at once, the least summed cycles over the explorer's time
  columns (PE arrays, or the skyline of tilings, which makes it exact: see
  `DeviceTables.time_columns`);
- per block <Tm, Tn, T>, the summed per-layer best over port splits;
- per block, the best common port split (exact).
`fastest` and `cheapest` (compiled: fast/kernels.py) visit blocks in order of their bound
(time) or of power, evaluate them exactly and stop as soon as no unvisited block can do
better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coexplore.fast import kernels
from coexplore.fast.device_tables import DeviceTables
from coexplore.fast.shapes import LayerShapes, Window
from coexplore.hardware.accelerator import window_limits
from coexplore.workload import Workload

TIE = 1.0 + 1e-12  # relative slack when comparing times that are the same float


def stage_windows(workload: Workload) -> np.ndarray:
    """windows[i, j] = `window_limits(layers i..j)` for every stage i <= j at once, as [i, j, 3]
    int64 (1, 1, 1 where j < i). One definition of a window: a stage's is the largest of its
    layers' own in each dimension (`window_limits` of one layer: (1, 1, 1) for a layer that
    sizes no buffer), which is what `window_limits` computes of the stage."""
    n = len(workload)
    own = np.array([window_limits((layer,)) for layer in workload.layers], dtype=np.int64)
    later = np.triu(np.ones((n, n), dtype=bool))  # [i, j]: layer j is in stage i..j
    per_layer = own.reshape(n, 3).T  # [dimension, layer]
    return np.stack(
        [np.maximum.accumulate(np.where(later, v[None, :], 1), axis=1) for v in per_layer], axis=2
    )


@dataclass(frozen=True)
class Pick:
    seconds: float
    power_w: float
    block: int
    split: int


def window_groups(windows: np.ndarray) -> list[tuple[Window, np.ndarray, np.ndarray]]:
    """All stages (i <= j) of a workload grouped by buffer window: (window, firsts, lasts), in
    increasing window order. The same for every device, so computed once per workload."""
    first, last = np.triu_indices(len(windows))
    code = windows[first, last] @ np.array([1 << 40, 1 << 20, 1])  # sizes are below 2**20
    values, which = np.unique(code, return_inverse=True)
    order = np.argsort(which, kind="stable")
    ends = np.cumsum(np.bincount(which, minlength=len(values)))
    mask = (1 << 20) - 1
    return [
        ((int(v >> 40), int((v >> 20) & mask), int(v & mask)), first[rows], last[rows])
        for v, rows in zip(values, np.split(order, ends[:-1]), strict=True)
    ]


class Stages:
    """Exact queries about stages of one workload on one device kind, whose memo tables
    (`DeviceTables`, owned by the explorer and kept between workloads) it reads through their
    public interface only."""

    def __init__(
        self,
        device: DeviceTables,
        shapes: LayerShapes,
        windows: np.ndarray,
        groups: list[tuple[Window, np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """`windows`: `stage_windows` of the workload; `groups`: `window_groups(windows)` when
        the caller has it already."""
        self.device, self.shapes, self.windows = device, shapes, windows
        self._groups = groups
        self.ids = device.shape_ids(shapes)  # per shape: its tables in the device store
        device.prepare([w for w, _, _ in self._windows()])  # all at once
        self.store = device.store
        self.hz = device.hz
        self._fastest: dict[tuple[int, int], float] = {}
        self._prefix: tuple[np.ndarray, np.ndarray] | None = None  # `_array_prefix`

    # -- all stages at once --------------------------------------------------------------------

    def group_bounds(self) -> np.ndarray:
        """[i, j]: a lower bound on the stage's time (inf where no block fits its window)."""
        n = len(self.shapes.counts) - 1
        out = np.full((n, n), np.inf)
        for index, (window, first, last) in enumerate(self._windows()):
            least = self.device.time_columns(window, self.shapes, len(first))
            if least is None:
                prefix, columns = self._array_prefix(index)
            else:
                prefix = self.shapes.prefix(least)
                columns = np.arange(prefix.shape[1])
            if len(columns):  # prefix: [n + 1, column], exact whole-cycle prefix sums
                out[first, last] = kernels.least_stage_sums(prefix, columns, first, last) / self.hz
        return out

    def least_power_bounds(self, ii: float, wanted: np.ndarray) -> np.ndarray:
        """[i, j] where `wanted`: a lower bound on the stage's power within time ii, the least
        power of a PE array whose group bound meets ii; inf elsewhere."""
        n = len(self.shapes.counts) - 1
        out = np.full((n, n), np.inf)
        for index, (window, first, last) in enumerate(self._windows()):
            rows = wanted[first, last]
            if not rows.any():
                continue
            first, last = first[rows], last[rows]
            prefix, columns = self._array_prefix(index)
            if len(columns):
                power = self.device.array_power(window)  # per usable array, in array order
                out[first, last] = kernels.least_power_within(
                    prefix, columns, power, first, last, self.hz, ii * TIE
                )
        return out

    def _array_prefix(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """For the workload's window `index` (in `_windows` order): (prefix sums over layers of
        their shape's least cycles per PE array over the array's blocks that fit the window,
        [n + 1, array]; the arrays with a block that fits, increasing)."""
        if self._prefix is None:
            fits = self.device.window_fits([w for w, _, _ in self._windows()])
            n, arrays = len(self.shapes.slots), fits.shape[1]  # fits: [window, array, tile]
            prefix, usable = np.empty((len(fits), n + 1, arrays)), np.empty(fits.shape[:2], bool)
            kernels.window_prefix(self.store.low, self.ids, self.shapes.slots, fits, prefix, usable)
            self._prefix = (prefix, usable)
        prefix, usable = self._prefix
        return prefix[index], np.flatnonzero(usable[index])

    def _windows(self) -> list[tuple[Window, np.ndarray, np.ndarray]]:
        """All stages (i <= j) grouped by buffer window: (window, firsts, lasts)."""
        if self._groups is None:
            self._groups = window_groups(self.windows)
        return self._groups

    # -- one stage -----------------------------------------------------------------------------

    def _window_of(self, i: int, j: int) -> Window:
        rows, cols, smax = self.windows[i, j].tolist()
        return rows, cols, smax

    def fastest(self, i: int, j: int) -> float:
        """Q1: the stage's exact best time over all fitting tilings."""
        if (i, j) not in self._fastest:
            self._fastest[(i, j)] = self._fastest_now(i, j)
        return self._fastest[(i, j)]

    def _fastest_now(self, i: int, j: int) -> float:
        """Branch and bound over the fitting blocks (`kernels.fastest_cycles`), in cycles (the
        least of cycles / F is the least cycles / F)."""
        blocks = self.device.fit_blocks(self._window_of(i, j))
        counts = self.shapes.between(i, j)
        store = self.store
        best = kernels.fastest_cycles(store.kernel_args(), self.ids, counts, blocks, store.splits)
        return float(best) / self.hz

    def cheapest(self, i: int, j: int, limit: float) -> Pick | None:
        """Q2: the least-power tiling whose exact time is <= limit (ties: lowest block index)."""
        window = self._window_of(i, j)
        order = self.device.power_order(window)
        counts = self.shapes.between(i, j)
        store = self.store
        block, split, seconds = kernels.cheapest_tiling(
            store.kernel_args(), self.ids, counts, order, store.splits, self.hz, limit * TIE
        )
        if block < 0:
            return None
        power = self.device.fit(window)[1]
        return Pick(float(seconds), float(power[block]), int(block), int(split))
