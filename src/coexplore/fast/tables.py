"""Per-layer cycle tables over one device's tiling grid, computed on the grid's factors.

The grid is a product: PE arrays (Tm, Tn) x square tiles T x port splits (Ip, Wp, Op), array
major (fast/grid.py). The model's formulas are element-wise, so evaluating them on broadcast
factors ([array, 1, 1], [1, tile, 1], [1, 1, split]) gives exactly the values of the flat grid
while the terms that depend on fewer factors are computed once per factor value.

A layer's cycles depend on the tile T only through min(T, R), ceil(R / T), min(T, C) and
ceil(C / T) (hardware/accelerator.py), so tiles equal in those four are computed once: for a
32 x 32 map the five tiles >= 32 are one, for the fc layer (R = C = 1) all tiles are one.
Conv and fc layers (nearly all layers) go through one compiled loop (fast/kernels.py,
`conv_table`) with the same arithmetic. A test checks these tables against `layer_cycles` on
the flat grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coexplore.fast import kernels
from coexplore.fast.grid import TilingGrid
from coexplore.hardware.accelerator import layer_cycles
from coexplore.workload import Layer, LayerKind


@dataclass(frozen=True)
class _Factors:
    tm: np.ndarray
    tn: np.ndarray
    tr: np.ndarray
    tc: np.ndarray
    ip: np.ndarray
    wp: np.ndarray
    op: np.ndarray


class CycleTables:
    """Cycle tables of layers on one device's grid."""

    def __init__(self, grid: TilingGrid, fill: bool = True) -> None:
        self.fill = fill  # pipeline fill/drain counted per layer (hardware/accelerator.py)
        blocks = grid.blocks()
        self.arrays = len(np.unique(blocks.tm * (int(blocks.tn.max()) + 1) + blocks.tn))
        tm, tn, tiles = (a.reshape(self.arrays, -1) for a in (blocks.tm, blocks.tn, blocks.tr))
        if not (np.all(tm == tm[:, :1]) and np.all(tn == tn[:, :1]) and np.all(tiles == tiles[0])):
            raise ValueError("tiling grid is not array-major over one set of tiles")
        self.tm, self.tn, self.tiles = tm[:, :1, None], tn[:, :1, None], tiles[0]
        step = grid.n_splits
        self.ip, self.wp, self.op = (a[:step][None, None, :] for a in (grid.ip, grid.wp, grid.op))
        self.shape = (grid.n_blocks, grid.n_splits)
        # contiguous int64 factors for the compiled conv kernel (fast/kernels.py)
        tm_values, tm_index = np.unique(self.tm[:, 0, 0], return_inverse=True)
        tn_values, tn_index = np.unique(self.tn[:, 0, 0], return_inverse=True)
        self._flat = tuple(
            np.ascontiguousarray(a, dtype=np.int64)
            for a in (tm_values, tm_index, tn_values, tn_index, self.tiles)
        )
        self._splits = tuple(
            np.ascontiguousarray(a[0, 0], dtype=np.int64) for a in (self.ip, self.wp, self.op)
        )
        self._same_tiles: dict[tuple[int, int], np.ndarray] = {}

    def cycles(self, layer: Layer) -> np.ndarray:
        """Cycles of `layer` on every tiling, as [block, split] (float64, whole numbers)."""
        return self.tables(layer)[0]

    def tables(self, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
        """(cycles of `layer` on every tiling as [block, split], float64 whole numbers; their
        least per block, over its port splits)."""
        full, low = np.empty(self.shape), np.empty(self.shape[0])
        self.tables_into(layer, full, low)
        return full, low

    def tables_into(self, layer: Layer, full: np.ndarray, low: np.ndarray) -> None:
        """`tables`, written into `full` ([block, split]) and `low` ([block])."""
        rows, cols = layer.out_rows, layer.out_cols
        if layer.kind in (LayerKind.CONV, LayerKind.FC):
            shape = (layer.in_channels, layer.out_channels, rows, cols, layer.kernel, layer.stride)
            kernels.conv_table(
                *self._flat, self._same(rows, cols), *self._splits,
                np.array(shape, dtype=np.int64), self.fill, full, low,
            )  # fmt: skip
            return
        classes: dict[tuple[int, int, int, int], int] = {}
        which = np.empty(len(self.tiles), dtype=np.int64)
        for index, t in enumerate(self.tiles.tolist()):
            key = (min(t, rows), -(-rows // t), min(t, cols), -(-cols // t))
            which[index] = classes.setdefault(key, len(classes))
        firsts = np.unique(which, return_index=True)[1]
        tiles = self.tiles[firsts][None, :, None]
        factors = _Factors(self.tm, self.tn, tiles, tiles, self.ip, self.wp, self.op)
        values = np.asarray(layer_cycles(layer, factors, self.fill), dtype=np.float64)
        values = np.broadcast_to(values, (self.tm.shape[0], len(firsts), self.ip.shape[2]))
        least = values.min(axis=2)  # per tile class: the tiles of a class share their values
        full[...] = np.take(values, which, axis=1).reshape(self.shape)
        low[...] = np.take(least, which, axis=1).reshape(-1)

    def _same(self, rows: int, cols: int) -> np.ndarray:
        """same[t]: the first tile that gives an R x C map the same min(T, R), ceil(R / T),
        min(T, C) and ceil(C / T) as tile t (a layer's cycles depend on T only through them)."""
        if (rows, cols) not in self._same_tiles:
            first: dict[tuple[int, int, int, int], int] = {}
            self._same_tiles[(rows, cols)] = np.array(
                [
                    first.setdefault((min(t, rows), -(-rows // t), min(t, cols), -(-cols // t)), i)
                    for i, t in enumerate(self.tiles.tolist())
                ],
                dtype=np.int64,
            )
        return self._same_tiles[(rows, cols)]


_FIRST_CAPACITY = 64  # shapes; a 14-layer chain has ~12, a NAS-Bench-201 cell ~20


class TableStore:
    """The cycle tables of one device, every layer shape's stacked in one array (ids in order
    of first use), so that a compiled loop reaches any shape's table by its id: full[id] is
    [block, split], low[id] its least over splits, [block]. Grows by doubling."""

    def __init__(self, tables: CycleTables) -> None:
        self.tables = tables
        self.ids: dict[tuple[object, ...], int] = {}
        # np.empty reserves address space only: pages are touched when a table is written
        self.full = np.empty((_FIRST_CAPACITY, *tables.shape))
        self.low = np.empty((_FIRST_CAPACITY, tables.shape[0]))

    def id_of(self, key: tuple[object, ...], layer: Layer) -> int:
        """The id of the shape `key` (of `layer`), its tables computed when it is new."""
        known = self.ids.get(key)
        if known is not None:
            return known
        new = len(self.ids)
        if new == len(self.full):
            self.full = np.concatenate([self.full, np.empty_like(self.full)])
            self.low = np.concatenate([self.low, np.empty_like(self.low)])
        self.tables.tables_into(layer, self.full[new], self.low[new])
        self.ids[key] = new
        return new
