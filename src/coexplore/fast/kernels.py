"""Compiled inner loops of the exact optimiser (numba), each the same arithmetic as the numpy
code it replaces, so the very same floats.

Why compiled: after the numpy work of earlier versions, a 14-layer architecture still cost
~8,500 Python-level calls (cProfile), most of them on arrays of a few hundred elements, where
numpy's per-call overhead is the whole cost. These loops do that work in one call each.

Exactness: every value is a whole number of cycles below 2**53 held in float64 (as in the
numpy code); divisions are float64 divisions of the same operands followed by a ceiling, and
the order of a min or an argmin over ties follows numpy's (first index wins).

Without numba (it is a declared dependency, but the import is guarded) the same functions run
as plain Python: correct, much slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # pragma: no cover - exercised by whichever is installed
    from numba import njit as _njit

    def jit(function: Callable[..., Any]) -> Callable[..., Any]:
        # cache=True: a new process loads the machine code from __pycache__ instead of
        # compiling again (compiling all of them takes a few seconds once per install)
        return _njit(cache=True, nogil=True)(function)

    COMPILED = True
except ImportError:  # pragma: no cover

    def jit(function: Callable[..., Any]) -> Callable[..., Any]:
        return function

    COMPILED = False


@jit
def conv_table(
    tm_values: np.ndarray,
    tm_index: np.ndarray,
    tn_values: np.ndarray,
    tn_index: np.ndarray,
    tiles: np.ndarray,
    same: np.ndarray,
    ip: np.ndarray,
    wp: np.ndarray,
    op: np.ndarray,
    layer: np.ndarray,
    fill: bool,
    full: np.ndarray,
    low: np.ndarray,
    keep_full: bool,
) -> None:
    """`layer_cycles` of a conv or fc layer (hardware/accelerator.py, `_conv_terms`) on every
    tiling of an array-major grid: PE arrays (tm_values[tm_index[a]], tn_values[tn_index[a]])
    x tiles x port splits (ip, wp, op). layer = (N, M, R, C, Kh, Kw, S); same[t] is the first tile
    that gives this layer the same min(T, R), ceil(R / T), min(T, C), ceil(C / T) as tile t
    (its values are copied). Writes the least over splits, low[array * tiles + tile], and with
    `keep_full` every value, full[array * tiles + tile, split] (the optimiser keeps only the
    least and computes a value again when it needs it: `cycles_at`). The input-load
    (write-back) time depends on Tn (Tm) and not on the other: computed per distinct value."""
    n, m, r, c, kh, kw, s = layer[0], layer[1], layer[2], layer[3], layer[4], layer[5], layer[6]
    n_tiles, n_splits = tiles.shape[0], ip.shape[0]
    loads = np.empty((tn_values.shape[0], n_tiles, n_splits))
    stores = np.empty((tm_values.shape[0], n_tiles, n_splits))
    for t in range(n_tiles):
        if same[t] != t:
            continue
        trp, tcp = min(tiles[t], r), min(tiles[t], c)
        for v in range(tn_values.shape[0]):
            halo = tn_values[v] * ((trp - 1) * s + kh) * ((tcp - 1) * s + kw)  # halo counted
            for x in range(n_splits):
                loads[v, t, x] = float(math.ceil(halo / ip[x]))
        for v in range(tm_values.shape[0]):
            words = tm_values[v] * trp * tcp
            for x in range(n_splits):
                stores[v, t, x] = float(math.ceil(words / op[x]))
    weights = np.empty(n_splits)
    for a in range(tm_index.shape[0]):
        tma, tna = tm_values[tm_index[a]], tn_values[tn_index[a]]
        rounds = float(math.ceil(n / tna))  # as np.ceil(np.divide(N, Tn, dtype=float64))
        channel_steps = float(math.ceil(m / tma))
        for x in range(n_splits):
            weights[x] = float(math.ceil(tma * tna * kh * kw / wp[x]))
        t_in, t_out = loads[tn_index[a]], stores[tm_index[a]]
        for t in range(n_tiles):
            row = a * n_tiles + t
            if same[t] != t:
                if keep_full:
                    full[row] = full[a * n_tiles + same[t]]
                low[row] = low[a * n_tiles + same[t]]
                continue
            tile = tiles[t]
            trp, tcp = min(tile, r), min(tile, c)
            t_comp = float(kh * kw * trp * tcp)
            outer = float(math.ceil(r / tile)) * float(math.ceil(c / tile)) * channel_steps
            least = np.inf
            for x in range(n_splits):
                loaded = max(t_in[t, x], weights[x])
                loop = rounds * max(loaded, t_comp)
                cycles = outer * max(loop, t_out[t, x])
                if fill:
                    cycles = cycles + loaded + t_out[t, x]
                if keep_full:
                    full[row, x] = cycles
                least = min(least, cycles)
            low[row] = least


@jit
def least_stage_sums(
    prefix: np.ndarray, columns: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """[stage]: min over `columns` of prefix[last + 1, column] - prefix[first, column] (exact
    whole-number differences; inf when there is no column)."""
    out = np.full(first.shape[0], np.inf)
    for row in range(first.shape[0]):
        top, bottom = prefix[last[row] + 1], prefix[first[row]]
        least = np.inf
        for c in columns:
            least = min(least, top[c] - bottom[c])
        out[row] = least
    return out


@jit
def least_power_within(
    prefix: np.ndarray,
    columns: np.ndarray,
    power: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    hz: float,
    limit: float,
) -> np.ndarray:
    """[stage]: the least power[i] over columns[i] whose summed cycles / hz <= limit."""
    out = np.full(first.shape[0], np.inf)
    for row in range(first.shape[0]):
        top, bottom = prefix[last[row] + 1], prefix[first[row]]
        least = np.inf
        for i in range(columns.shape[0]):
            c = columns[i]
            if (top[c] - bottom[c]) / hz <= limit:
                least = min(least, power[i])
        out[row] = least
    return out


@jit
def dp_levels(
    cost: np.ndarray,
    children: np.ndarray,
    levels: np.ndarray,
    level_of: np.ndarray,
    total: int,
    max_stages: int,
    add: bool,
    best: np.ndarray,
    pick: np.ndarray,
) -> None:
    """The DP of fast/dp.py `solve`, level by level (states in `levels`, grouped by their
    number of remaining devices `level_of`): for each state and first layer i, the best over
    (kind, last layer j) of combine(cost[kind, i, j], best[child, j + 1]), first index on ties
    (kind-major, as np.argmin over the flattened [kind, j])."""
    kinds, layers = cost.shape[0], cost.shape[1]
    for index in range(levels.shape[0]):
        state, remaining = levels[index], level_of[index]
        if remaining == 0 or total - remaining >= max_stages:
            continue
        for i in range(layers):
            value, choice = np.inf, -1
            for kind in range(kinds):
                rest = best[children[state, kind]]
                for j in range(layers):
                    stage = cost[kind, i, j]
                    candidate = stage + rest[j + 1] if add else max(stage, rest[j + 1])
                    if choice < 0 or candidate < value:
                        value, choice = candidate, kind * layers + j
            pick[state, i] = choice
            best[state, i] = value


@jit
def window_prefix(
    lows: np.ndarray,
    ids: np.ndarray,
    slots: np.ndarray,
    fits: np.ndarray,
    prefix: np.ndarray,
    usable: np.ndarray,
) -> None:
    """Per buffer window w (fits[w, array, tile]: the blocks that fit it): usable[w, array],
    whether any block of the array fits; prefix[w, i, array], the sum over layers 0..i-1 of
    their shape's least cycles (lows[ids[shape], array * tiles + tile], slots[layer] = its
    shape) over the array's fitting blocks (0 for an unusable array). Whole numbers: exact in
    any order."""
    shapes = ids.shape[0]
    windows, arrays, tiles = fits.shape
    least = np.empty((shapes, arrays))
    fitting = np.empty(tiles, dtype=np.int64)
    for w in range(windows):
        for a in range(arrays):
            count = 0
            for t in range(tiles):
                if fits[w, a, t]:
                    fitting[count] = a * tiles + t
                    count += 1
            usable[w, a] = count > 0
            for shape in range(shapes):
                row = lows[ids[shape]]
                value = np.inf if count else 0.0
                for f in range(count):
                    value = min(value, row[fitting[f]])
                least[shape, a] = value
        for a in range(arrays):
            prefix[w, 0, a] = 0.0
        for i in range(slots.shape[0]):
            for a in range(arrays):
                prefix[w, i + 1, a] = prefix[w, i, a] + least[slots[i], a]


@jit
def conv_cycles(
    layer: np.ndarray, tm: int, tn: int, tile: int, ip: int, wp: int, op: int, fill: bool
) -> float:
    """`layer_cycles` of a conv or fc layer (N, M, R, C, Kh, Kw, S) on one tiling: the
    arithmetic of `conv_table`, element by element."""
    n, m, r, c, kh, kw, s = layer[0], layer[1], layer[2], layer[3], layer[4], layer[5], layer[6]
    trp, tcp = min(tile, r), min(tile, c)
    halo = tn * ((trp - 1) * s + kh) * ((tcp - 1) * s + kw)
    t_in = float(math.ceil(halo / ip))
    t_w = float(math.ceil(tm * tn * kh * kw / wp))
    t_out = float(math.ceil(tm * trp * tcp / op))
    t_comp = float(kh * kw * trp * tcp)
    loaded = max(t_in, t_w)
    loop = float(math.ceil(n / tn)) * max(loaded, t_comp)
    outer = float(math.ceil(r / tile)) * float(math.ceil(c / tile)) * float(math.ceil(m / tm))
    cycles = outer * max(loop, t_out)
    if fill:
        cycles = cycles + loaded + t_out
    return cycles


@jit
def cycles_at(tables: Any, shape: int, block: int, x: int) -> float:
    """Cycles of layer shape `shape` on block `block` at port split `x`, from a device's table
    store (`TableStore.kernel_args`): computed again for a conv or fc shape, read from its
    stored table for any other."""
    (
        _,
        layers,
        other_row,
        other,
        tm_values,
        tm_index,
        tn_values,
        tn_index,
        tiles,
        ip,
        wp,
        op,
        fill,
    ) = tables
    row = other_row[shape]
    if row >= 0:
        return other[row, block, x]
    n_tiles = tiles.shape[0]
    a = block // n_tiles
    return conv_cycles(
        layers[shape], tm_values[tm_index[a]], tn_values[tn_index[a]], tiles[block % n_tiles],
        ip[x], wp[x], op[x], fill,
    )  # fmt: skip


@jit
def row_cycles(tables: Any, ids: np.ndarray, rows: np.ndarray, splits: int) -> np.ndarray:
    """[shape, row]: cycles of shapes `ids` on tilings `rows` (block * splits + split)."""
    out = np.empty((ids.shape[0], rows.shape[0]))
    for q in range(ids.shape[0]):
        for r in range(rows.shape[0]):
            out[q, r] = cycles_at(tables, ids[q], rows[r] // splits, rows[r] % splits)
    return out


@jit
def _block_cycles(
    tables: Any, ids: np.ndarray, counts: np.ndarray, block: int, acc: np.ndarray
) -> None:
    """acc[x]: a stage's cycles on block `block` at port split x, its layers' cycles summed per
    shape (whole numbers). A conv shape's terms that do not depend on the split are computed
    once per block (the arithmetic of `conv_cycles`)."""
    _, layers, other_row, other, tm_values, tm_index, tn_values, tn_index = tables[:8]
    tiles, ip, wp, op, fill = tables[8:]
    n_tiles = tiles.shape[0]
    a, tile = block // n_tiles, tiles[block % n_tiles]
    tm, tn = tm_values[tm_index[a]], tn_values[tn_index[a]]
    acc[:] = 0.0
    for q in range(ids.shape[0]):
        count = counts[q]
        if not count:
            continue
        row = other_row[ids[q]]
        if row >= 0:
            for x in range(acc.shape[0]):
                acc[x] += count * other[row, block, x]
            continue
        layer = layers[ids[q]]
        n, m, r, c, kh, kw, s = layer[0], layer[1], layer[2], layer[3], layer[4], layer[5], layer[6]
        trp, tcp = min(tile, r), min(tile, c)
        halo = tn * ((trp - 1) * s + kh) * ((tcp - 1) * s + kw)
        weights, words = tm * tn * kh * kw, tm * trp * tcp
        t_comp = float(kh * kw * trp * tcp)
        rounds = float(math.ceil(n / tn))
        outer = float(math.ceil(r / tile)) * float(math.ceil(c / tile)) * float(math.ceil(m / tm))
        for x in range(acc.shape[0]):
            t_in = float(math.ceil(halo / ip[x]))
            t_w = float(math.ceil(weights / wp[x]))
            t_out = float(math.ceil(words / op[x]))
            loaded = max(t_in, t_w)
            cycles = outer * max(rounds * max(loaded, t_comp), t_out)
            if fill:
                cycles = cycles + loaded + t_out
            acc[x] += count * cycles


@jit
def _stage_bound(low: np.ndarray, ids: np.ndarray, counts: np.ndarray, block: int) -> float:
    """A lower bound of a stage's cycles on a block: its layers' least cycles over splits."""
    total = 0.0
    for q in range(ids.shape[0]):
        if counts[q]:
            total += counts[q] * low[ids[q], block]
    return total


@jit
def fastest_cycles(
    tables: Any, ids: np.ndarray, counts: np.ndarray, blocks: np.ndarray, splits: int
) -> float:
    """The least cycles of a stage (counts[q] layers of shape ids[q] of the table store
    `tables`) over `blocks` and every split; inf if none. Branch and bound: blocks by
    increasing bound until the bound is no longer below the best (bound <= cycles, and both
    are whole numbers, exact: such a block cannot lower the least)."""
    low = tables[0]
    bounds = np.empty(blocks.shape[0])
    for b in range(blocks.shape[0]):
        bounds[b] = _stage_bound(low, ids, counts, blocks[b])
    acc = np.empty(splits)
    best = np.inf
    for b in np.argsort(bounds):
        if not bounds[b] < best:
            break
        _block_cycles(tables, ids, counts, blocks[b], acc)
        best = min(best, acc.min())
    return best


@jit
def cheapest_tiling(
    tables: Any,
    ids: np.ndarray,
    counts: np.ndarray,
    order: np.ndarray,
    splits: int,
    hz: float,
    limit: float,
) -> tuple[int, int, float]:
    """The first block of `order` (blocks by increasing power) on which the stage's time
    (cycles / hz at its best split) is <= limit: (block, split with the least cycles, first on
    ties, seconds), or (-1, -1, inf). Blocks whose bound is over the limit are skipped."""
    low = tables[0]
    acc = np.empty(splits)
    for b in range(order.shape[0]):
        block = order[b]
        if _stage_bound(low, ids, counts, block) / hz > limit:
            continue
        _block_cycles(tables, ids, counts, block, acc)
        split = int(np.argmin(acc))  # the first of equal values, as numpy's
        if acc[split] / hz <= limit:
            return block, split, acc[split] / hz
    return -1, -1, np.inf


@jit
def undominated(columns: np.ndarray) -> np.ndarray:
    """Positions of the rows of `columns` ([column, criterion], in the order to scan) that no
    earlier row matches or beats on every criterion, in scan order. (A row beaten by an earlier
    beaten row is beaten by whatever beat that one, so comparing with the kept rows suffices.)"""
    count, criteria = columns.shape
    kept = np.empty(count, dtype=np.int64)
    size = 0
    for c in range(count):
        beaten = False
        for q in range(size):
            other = kept[q]
            covers = True
            for x in range(criteria):
                if columns[other, x] > columns[c, x]:
                    covers = False
                    break
            if covers:
                beaten = True
                break
        if not beaten:
            kept[size] = c
            size += 1
    return kept[:size]
