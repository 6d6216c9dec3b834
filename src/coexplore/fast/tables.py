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

_NO_TABLE = np.empty((0, 0))  # `conv_table` writes no full table into it


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
        # contiguous int64 factors for the compiled kernels (fast/kernels.py; `TableStore`):
        # (Tm values, array -> Tm, Tn values, array -> Tn, tiles) and (Ip, Wp, Op) per split
        tm_values, tm_index = np.unique(self.tm[:, 0, 0], return_inverse=True)
        tn_values, tn_index = np.unique(self.tn[:, 0, 0], return_inverse=True)
        self.kernel_factors = tuple(
            np.ascontiguousarray(a, dtype=np.int64)
            for a in (tm_values, tm_index, tn_values, tn_index, self.tiles)
        )
        self.kernel_splits = tuple(
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
            shape = conv_shape(layer)
            kernels.conv_table(
                *self.kernel_factors, self._same(rows, cols), *self.kernel_splits,
                np.array(shape, dtype=np.int64), self.fill, full, low, True,
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

    def conv_low(self, layer: Layer, shape: tuple[int, ...], low: np.ndarray) -> None:
        """The least cycles per block of a conv or fc `layer` (`shape` = `conv_shape(layer)`),
        written into `low`; the full table is not kept (see `TableStore`)."""
        kernels.conv_table(
            *self.kernel_factors, self._same(layer.out_rows, layer.out_cols),
            *self.kernel_splits, np.array(shape, dtype=np.int64), self.fill, _NO_TABLE, low, False,
        )  # fmt: skip

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


CONV_FIELDS = 7  # (N, M, R, C, Kh, Kw, S): what the compiled loops read of a conv or fc layer


def conv_shape(layer: Layer) -> tuple[int, ...] | None:
    """(N, M, R, C, Kh, Kw, S) of a conv or fc layer, None for another kind."""
    if layer.kind not in (LayerKind.CONV, LayerKind.FC):
        return None
    return (
        layer.in_channels, layer.out_channels, layer.out_rows, layer.out_cols, layer.kernel,
        layer.kw, layer.stride,
    )  # fmt: skip


class TableStore:
    """The cycle tables of one device by layer shape (ids in order of first use), held so that
    a compiled loop reaches any of them by id (`kernel_args`, `kernels.cycles_at`).

    Per shape: low[id], the least cycles of each block over its port splits, [block]. The
    cycles of every tiling ([block, split]) are kept only for shapes that are not conv or fc
    (`other`, few): a conv layer's are computed again in the few places they are needed (the
    exact stage times of a branch and bound, the skyline), which costs less than writing and
    keeping 400 kB per shape and device (a search meets hundreds of shapes). Grows by doubling.
    """

    def __init__(self, tables: CycleTables) -> None:
        self.tables = tables
        self.ids: dict[tuple[object, ...], int] = {}
        blocks, self.splits = tables.shape
        # np.empty reserves address space only: pages are touched when a row is written
        self.low = np.empty((_FIRST_CAPACITY, blocks))
        self.layers = np.zeros((_FIRST_CAPACITY, CONV_FIELDS), dtype=np.int64)  # `conv_shape`
        self.other_row = np.full(_FIRST_CAPACITY, -1, dtype=np.int64)  # -1: conv or fc
        self.other = np.empty((0, blocks, self.splits))  # full tables of the other shapes
        self.others = 0

    def id_of(self, key: tuple[object, ...], layer: Layer) -> int:
        """The id of the shape `key` (of `layer`), its tables computed when it is new."""
        known = self.ids.get(key)
        if known is not None:
            return known
        new = len(self.ids)
        if new == len(self.low):
            self.low, self.layers = _doubled(self.low), _doubled(self.layers)
            self.other_row = _doubled(self.other_row)
        conv = conv_shape(layer)
        if conv is not None:
            self.layers[new] = conv
            self.other_row[new] = -1
            self.tables.conv_low(layer, conv, self.low[new])
        else:
            if self.others == len(self.other):
                grown = np.empty((max(4, 2 * len(self.other)), *self.other.shape[1:]))
                grown[: self.others] = self.other[: self.others]
                self.other = grown
            self.tables.tables_into(layer, self.other[self.others], self.low[new])
            self.other_row[new] = self.others
            self.others += 1
        self.ids[key] = new
        return new

    def kernel_args(self) -> tuple[object, ...]:
        """What `kernels.cycles_at` reads (rebuilt per call: the arrays grow)."""
        grid = self.tables
        return (
            self.low, self.layers, self.other_row, self.other,
            *grid.kernel_factors, *grid.kernel_splits, grid.fill,
        )  # fmt: skip

    def cycles(self, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """[shape, row]: cycles of shapes `ids` on tilings `rows` (block * splits + split)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        return kernels.row_cycles(self.kernel_args(), ids, rows, self.splits)


def _doubled(array: np.ndarray) -> np.ndarray:
    """`array` with twice the rows, the first ones kept (a copy: these arrays are small)."""
    grown = np.empty((2 * len(array), *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown
