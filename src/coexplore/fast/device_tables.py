"""What the exact fast exploration knows about one device kind of the pool, memoised.

`OptimalExplorer` owns one `DeviceTables` per device kind (`OptimalExplorer.device_tables`) and
keeps it between workloads; `Stages` (fast/stages.py) answers its queries about the stages of one
workload on one device through this interface only. Everything here depends on the device, the
precision and the tiling space, not on a workload, except the per-shape cycle tables (kept in
`store`, by layer shape) and the skylines (kept per set of shapes).

A buffer window (Kh max, Kw max, Smax) sizes the engine's buffers (hardware/accelerator.py,
`resources`): per window, which blocks <Tm, Tn, T> of the grid fit the device and their power.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from coexplore.fast.grid import TilingGrid
from coexplore.fast.shapes import LayerShapes, Window, skyline
from coexplore.fast.tables import CycleTables, TableStore
from coexplore.hardware.accelerator import resources
from coexplore.hardware.devices import Precision


class DeviceTables:
    """One device kind's tiling grid, cycle tables by layer shape and fit/power per window."""

    def __init__(self, grid: TilingGrid, fill: bool) -> None:
        self.grid = grid
        self.precision: Precision = grid.precision
        self.hz = grid.device.clock_mhz * 1e6  # cycles per second
        self.cycles = CycleTables(grid, fill)
        self.store = TableStore(self.cycles)  # the cycle tables, by layer shape
        self._fits: dict[Window, tuple[np.ndarray, np.ndarray]] = {}
        self._orders: dict[Window, np.ndarray] = {}
        self._array_power: dict[Window, np.ndarray] = {}
        self._counts: dict[Window, int] = {}
        self._fit_index: dict[Window, np.ndarray] = {}
        self._seen: dict[tuple[object, ...], int] = {}
        self._skylines: dict[tuple[object, ...], np.ndarray] = {}
        self._skyline_rows_of: dict[tuple[object, ...], dict[tuple[object, ...], np.ndarray]] = {}
        self._windows: dict[Window, int] = {}
        # [window, array, tile]: which blocks fit, windows in the order of `_windows`
        self._window_fits = np.zeros((0, self.cycles.arrays, len(self.cycles.tiles)), bool)

    @property
    def arrays(self) -> int:
        """PE arrays (Tm, Tn) of the grid; its blocks are array-major (fast/grid.py)."""
        return self.cycles.arrays

    @property
    def skylines_kept(self) -> int:
        """How many (window, set of shapes) have a skyline (`time_columns`) so far."""
        return len(self._skylines)

    # -- per layer shape -----------------------------------------------------------------------

    def shape_ids(self, shapes: LayerShapes) -> np.ndarray:
        """The ids of the workload's shapes in `store` (tables made for new ones)."""
        store = self.store
        return np.array([store.id_of(key, layer) for key, layer in shapes], dtype=np.int64)

    # -- per buffer window ---------------------------------------------------------------------

    def fit(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(fits the device, power in W) per block, buffers sized for `window` =
        (Kh max, Kw max, Smax)."""
        key = (int(window[0]), int(window[1]), int(window[2]))
        if key not in self._fits:
            self.prepare([key])
        return self._fits[key]

    def prepare(self, windows: list[Window]) -> None:
        """`fit` of every window not known yet, in one evaluation of the resource model: its
        formulas are element-wise, so windows as a column ([window, 1]) against blocks as a
        row ([1, block]) give the very values of one call per window, for far less overhead."""
        todo = sorted({w for w in windows if w not in self._fits})
        if not todo:
            return
        blocks = self.grid.blocks()
        device = blocks.device
        names = ("tm", "tn", "tr", "tc", "ip", "wp", "op")
        row = SimpleNamespace(**{name: getattr(blocks, name)[None, :] for name in names})
        # typed int for one window; its formulas take a column of windows element-wise
        rows, cols, smax = (
            np.array([w[axis] for w in todo], dtype=np.int64)[:, None] for axis in range(3)
        )
        res: Any = resources(row, rows, smax, self.precision, device, cols)
        shape = (len(todo), len(blocks))
        fits = (res.bram18k <= device.bram18k) & (res.uram <= device.uram)
        fits = fits & (res.luts <= device.luts) & (res.ffs <= device.ffs)
        fits = np.array(np.broadcast_to(fits, shape), dtype=bool)
        power = np.array(np.broadcast_to(device.power_w(res), shape), dtype=np.float64)
        for index, window in enumerate(todo):
            self._fits[window] = (fits[index], power[index])

    def fit_blocks(self, window: Window) -> np.ndarray:
        """The blocks that fit `window`, in block order."""
        if window not in self._fit_index:
            self._fit_index[window] = np.flatnonzero(self.fit(window)[0])
        return self._fit_index[window]

    def fit_count(self, window: Window) -> int:
        """How many blocks fit `window`."""
        if window not in self._counts:
            self._counts[window] = int(self.fit(window)[0].sum())
        return self._counts[window]

    def power_order(self, window: Window) -> np.ndarray:
        """Blocks that fit `window`, by increasing power (stable: ties keep block order)."""
        key = (int(window[0]), int(window[1]), int(window[2]))
        if key not in self._orders:
            fits, power = self.fit(key)
            blocks = np.flatnonzero(fits)
            self._orders[key] = blocks[np.argsort(power[blocks], kind="stable")]
        return self._orders[key]

    def array_power(self, window: Window) -> np.ndarray:
        """Per PE array with a block that fits `window` (in array order): its least power, W."""
        if window not in self._array_power:
            fits, power = self.fit(window)
            by_array = fits.reshape(self.arrays, -1)  # blocks are array-major (fast/grid.py)
            keep = np.asarray(by_array.any(axis=1))
            watts = np.where(by_array, power.reshape(self.arrays, -1), np.inf).min(axis=1)
            self._array_power[window] = watts[keep]
        return self._array_power[window]

    def window_fits(self, windows: list[Window]) -> np.ndarray:
        """[window, array, tile]: which blocks fit each of `windows` (kept stacked, so that
        the windows a workload shares with earlier ones cost nothing)."""
        known = [self._window_index(w) for w in windows]
        return self._window_fits[known]

    def _window_index(self, window: Window) -> int:
        if window not in self._windows:
            self._windows[window] = len(self._windows)
            fits = self.fit(window)[0].reshape(1, self.arrays, -1)
            self._window_fits = np.concatenate([self._window_fits, fits])
        return self._windows[window]

    # -- time bounds ---------------------------------------------------------------------------

    def time_columns(self, window: Window, shapes: LayerShapes, stages: int) -> np.ndarray | None:
        """The columns a stage's time bound is the least sum over, as [shape, column] cycles,
        or None for the default: one column per PE array (Tm, Tn) with a block that fits
        `window` (see `Stages._array_prefix`). When a set of shapes comes again (a tabular
        space has few) and the bound is wanted for many stages, one column per fitting tiling
        instead, less those another tiling matches or beats on every shape: the bound is then
        every stage's exact time and the lazy DP needs no refinement. The skyline is computed
        once per set."""
        memo = (*window, shapes.key_set)
        many = 4 * stages > self.fit_count(window)  # repays a skyline of the blocks
        if many and memo not in self._skylines:
            self._seen[memo] = self._seen.get(memo, 0) + 1
            if self._seen[memo] > 1:
                self._skylines[memo] = self._skyline_rows(window, shapes)
        if memo in self._skylines:
            return self._skyline_cycles(memo, shapes)
        return None

    def _skyline_cycles(self, memo: tuple[object, ...], shapes: LayerShapes) -> np.ndarray:
        """`_row_cycles` on the skyline of `memo`, in the workload's shape order: each shape's
        row is computed once per skyline (conv cycles are computed again, not stored) and
        kept, since every workload of the set asks for it."""
        known = self._skyline_rows_of.setdefault(memo, {})
        missing = [at for at, key in enumerate(shapes.keys) if key not in known]
        if missing:
            ids = self.shape_ids(shapes)[missing]
            values = self.store.cycles(ids, self._skylines[memo])
            for at, row in zip(missing, values, strict=True):
                known[shapes.keys[at]] = row
        return np.stack([known[key] for key in shapes.keys])

    def _skyline_rows(self, window: Window, shapes: LayerShapes) -> np.ndarray:
        """Tilings (rows block * splits + split) that fit and that no other fitting tiling
        beats on every shape."""
        fits, _ = self.fit(window)
        rows = np.flatnonzero(np.repeat(fits, self.grid.n_splits))
        return rows[skyline(self._row_cycles(shapes, rows))]

    def _row_cycles(self, shapes: LayerShapes, rows: np.ndarray) -> np.ndarray:
        """[shape, row]: cycles of the workload's shapes on tilings `rows` (block * splits +
        split), from the store."""
        return self.store.cycles(self.shape_ids(shapes), rows)
