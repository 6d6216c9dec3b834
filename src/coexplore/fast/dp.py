"""Dynamic programming over contiguous partitions of layers and device assignment.

`cost[k, i, j]` is the cost of running layers i..j (inclusive) as one stage on device kind k
(inf when impossible). A pipeline uses kind k at most `counts[k]` times and at most
`max_stages` devices overall. `combine` chains a stage with the best rest of the pipeline:
`np.maximum` gives the minimax objective (initiation interval), `np.add` the additive one
(power, latency).

State: (remaining devices per kind) x (first layer not yet placed). States with the same
number of remaining devices only depend on states with one fewer, so each such level is solved
in one vectorised step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import product

import numpy as np

from coexplore.fast import kernels

Combine = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Plan:
    value: float
    stages: tuple[tuple[int, int, int], ...]  # (kind, first layer, last layer)


@dataclass(frozen=True)
class _States:
    states: tuple[tuple[int, ...], ...]  # ordered by number of remaining devices
    levels: tuple[np.ndarray, ...]  # state indices per number of remaining devices
    children: np.ndarray  # [state, kind] -> state after using one of kind, or the inf row
    order: np.ndarray  # the states of `levels`, level after level
    level_of: np.ndarray  # the number of remaining devices of each state of `order`


@cache
def _states(counts: tuple[int, ...]) -> _States:
    states = tuple(sorted(product(*(range(c + 1) for c in counts)), key=sum))
    index = {s: n for n, s in enumerate(states)}
    inf_row = len(states)
    children = np.array(
        [
            [
                index[(*s[:k], s[k] - 1, *s[k + 1 :])] if s[k] else inf_row
                for k in range(len(counts))
            ]
            for s in states
        ],
        dtype=np.int64,
    ).reshape(len(states), len(counts))
    # states are sorted by their sum, so each level is one run of indices (linear, not
    # quadratic, in the number of states: 9,999 of one kind took seconds)
    sums = np.fromiter((sum(s) for s in states), dtype=np.int64, count=len(states))
    bounds = np.searchsorted(sums, np.arange(sum(counts) + 2))
    levels = tuple(
        np.arange(bounds[level], bounds[level + 1], dtype=np.int64)
        for level in range(sum(counts) + 1)
    )
    order = np.concatenate(levels)
    level_of = np.concatenate([np.full(len(g), n, dtype=np.int64) for n, g in enumerate(levels)])
    return _States(states, levels, children, order, level_of)


def solve(cost: np.ndarray, counts: tuple[int, ...], max_stages: int, combine: Combine) -> Plan:
    """Best plan covering all layers, or a Plan with value inf and no stages."""
    kinds, layers, _ = cost.shape
    table = _states(tuple(counts))
    total = sum(counts)
    best = np.full((len(table.states) + 1, layers + 1), np.inf)  # last row: impossible
    best[:-1, layers] = 0.0
    pick = np.zeros((len(table.states), layers), dtype=np.int64)
    if combine is np.maximum or combine is np.add:  # the usual two: one compiled pass
        kernels.dp_levels(
            np.ascontiguousarray(cost, dtype=np.float64), table.children, table.order,
            table.level_of, total, max_stages, combine is np.add, best, pick,
        )  # fmt: skip
        return _plan(best, pick, table, tuple(counts), layers)
    by_start = cost.transpose(1, 0, 2)[None]  # [1, i, kind, j]: candidates of a state contiguous
    for remaining, group in enumerate(table.levels):
        if remaining == 0 or total - remaining >= max_stages:
            continue  # no device left, or the pipeline may not grow
        after = best[table.children[group], 1:]  # [state, kind, j]: best rest from layer j+1
        flat = combine(by_start, after[:, None]).reshape(len(group), layers, kinds * layers)
        choice = np.argmin(flat, axis=2)  # ties: lowest kind, then shortest stage
        pick[group] = choice
        rows = np.arange(0, flat.size, kinds * layers).reshape(choice.shape)
        best[group, :layers] = flat.reshape(-1)[rows + choice]
    return _plan(best, pick, table, tuple(counts), layers)


def _plan(
    best: np.ndarray, pick: np.ndarray, table: _States, start: tuple[int, ...], layers: int
) -> Plan:
    state = table.states.index(start)
    value = float(best[state, 0])
    if not np.isfinite(value):
        return Plan(value, ())
    stages, i = [], 0
    while i < layers:
        k, j = divmod(int(pick[state, i]), layers)
        stages.append((k, i, j))
        state, i = int(table.children[state, k]), j + 1
    return Plan(value, tuple(stages))


def upper_triangle(cost: np.ndarray) -> np.ndarray:
    """Mask cost[..., i, j] with j < i (a stage cannot end before it starts)."""
    layers = cost.shape[-1]
    below = np.tril(np.ones((layers, layers), dtype=bool), k=-1)
    return np.where(below, np.inf, cost)
