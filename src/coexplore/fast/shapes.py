"""A workload's layers grouped by shape, the buffer window that sizes a stage, and the skyline
(Pareto filter) of cost columns: what the memo tables (`fast.device_tables`) and the stage
search (`fast.stages`) share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from coexplore.fast import kernels
from coexplore.workload import Layer, Workload

Window = tuple[int, int, int]  # (Kh max, Kw max, Smax) that size a stage's buffers


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


def skyline(values: np.ndarray) -> np.ndarray:
    """Indices of the columns of `values` ([criterion, column]) that no other column matches
    or beats on every criterion (of equal columns the first is kept), in order of their sums:
    the least of any non-negative weighted sum is found among them. A column can only be
    beaten by one of smaller or equal sum, which comes before it (stable order)."""
    order = np.argsort(values.sum(axis=0), kind="stable")
    return order[kernels.undominated(np.ascontiguousarray(values[:, order].T))]
