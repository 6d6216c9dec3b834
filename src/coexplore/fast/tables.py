"""Per-layer cycle tables over one device's tiling grid, computed on the grid's factors.

The grid is a product: PE arrays (Tm, Tn) x square tiles T x port splits (Ip, Wp, Op), array
major (fast/grid.py). The model's formulas are element-wise, so evaluating them on broadcast
factors ([array, 1, 1], [1, tile, 1], [1, 1, split]) gives exactly the values of the flat grid
while the terms that depend on fewer factors are computed once per factor value.

A layer's cycles depend on the tile T only through min(T, R), ceil(R / T), min(T, C) and
ceil(C / T) (hardware/accelerator.py), so tiles equal in those four are computed once: for a
32 x 32 map the five tiles >= 32 are one, for the fc layer (R = C = 1) all tiles are one.
A test checks these tables against `layer_cycles` on the flat grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        # The conv terms that depend on Tn or Tm alone (not both) are computed per distinct value
        # and gathered per array (see `_conv_cycles`).
        self.tn_values, self.tn_index = np.unique(self.tn[:, 0, 0], return_inverse=True)
        self.tm_values, self.tm_index = np.unique(self.tm[:, 0, 0], return_inverse=True)
        self.tmtn = self.tm * self.tn  # [array, 1, 1]

    def cycles(self, layer: Layer) -> np.ndarray:
        """Cycles of `layer` on every tiling, as [block, split] (float64, whole numbers)."""
        return self.tables(layer)[0]

    def tables(self, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
        """(cycles of `layer` on every tiling as [block, split], float64 whole numbers; their
        least per block, over its port splits)."""
        rows, cols = layer.out_rows, layer.out_cols
        classes: dict[tuple[int, int, int, int], int] = {}
        which = np.empty(len(self.tiles), dtype=np.int64)
        for index, t in enumerate(self.tiles.tolist()):
            key = (min(t, rows), -(-rows // t), min(t, cols), -(-cols // t))
            which[index] = classes.setdefault(key, len(classes))
        firsts = np.unique(which, return_index=True)[1]
        tiles = self.tiles[firsts][None, :, None]
        if layer.kind in (LayerKind.CONV, LayerKind.FC):
            values = self._conv_cycles(layer, tiles)
        else:
            factors = _Factors(self.tm, self.tn, tiles, tiles, self.ip, self.wp, self.op)
            values = np.asarray(layer_cycles(layer, factors, self.fill), dtype=np.float64)
        values = np.broadcast_to(values, (self.tm.shape[0], len(firsts), self.ip.shape[2]))
        low = values.min(axis=2)  # per tile class: the tiles of a class share their values
        full = np.take(values, which, axis=1).reshape(self.shape)
        return full, np.take(low, which, axis=1).reshape(-1)

    def _conv_cycles(self, layer: Layer, tiles: np.ndarray) -> np.ndarray:
        """`layer_cycles` of a conv or fc layer (hardware/accelerator.py, `_conv_terms`), with
        the same element-wise operations on the same operands, so the very same floats; the
        input-load and write-back terms are computed per distinct Tn (Tm) and gathered."""
        n, m, r, c = layer.in_channels, layer.out_channels, layer.out_rows, layer.out_cols
        k, s = layer.kernel, layer.stride
        trp, tcp = np.minimum(tiles, r), np.minimum(tiles, c)
        tn, tm = self.tn_values[:, None, None], self.tm_values[:, None, None]
        halo = tn * ((trp - 1) * s + k) * ((tcp - 1) * s + k)
        t_in = np.ceil(np.divide(halo, self.ip, dtype=np.float64))[self.tn_index]
        t_w = np.ceil(np.divide(self.tmtn * k * k, self.wp, dtype=np.float64))
        t_out = np.ceil(np.divide(tm * trp * tcp, self.op, dtype=np.float64))[self.tm_index]
        t_comp = k * k * trp * tcp
        loaded = np.maximum(t_in, t_w)
        loop = np.ceil(np.divide(n, self.tn, dtype=np.float64)) * np.maximum(loaded, t_comp)
        outer = np.ceil(np.divide(r, tiles, dtype=np.float64))
        outer = outer * np.ceil(np.divide(c, tiles, dtype=np.float64))
        outer = outer * np.ceil(np.divide(m, self.tm, dtype=np.float64))
        cycles = outer * np.maximum(loop, t_out)
        if not self.fill:
            return cycles
        return cycles + loaded + t_out
