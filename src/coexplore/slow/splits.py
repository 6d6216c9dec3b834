"""Images in memory and their deterministic splits: the pieces every dataset loader shares
(`coexplore.slow.data`, `coexplore.slow.folders`, `coexplore.slow.nuclei_data` import them from
here, and none of those imports another's private helpers; tests/test_layout.py checks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from coexplore.errors import InputError


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train/validation/test images (N, C, H, W) float32 and labels (N,) int64, in memory."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, int, int]  # channels, rows, cols
    name: str
    hflip: bool = False  # whether flipping left-right keeps the label (not for digits)

    def __post_init__(self) -> None:
        parts = {"train": (self.train_x, self.train_y), "val": (self.val_x, self.val_y)}
        parts["test"] = (self.test_x, self.test_y)
        for part, (x, y) in parts.items():
            if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape or len(x) != len(y):
                raise InputError(f"{part}: images {tuple(x.shape)} and labels {tuple(y.shape)} "
                                 f"do not match input_shape {self.input_shape}")  # fmt: skip
        if len(self.train_y) == 0:
            raise InputError("train: no examples")


@dataclass(frozen=True)
class Pool:
    """Raw images in [0, 1] as (N, C, H, W) float32 and integer labels."""

    x: np.ndarray
    y: np.ndarray


def split_one_pool(
    name: str,
    pool: Pool,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
) -> DataSplits:
    rng = np.random.default_rng(seed)
    pool = subset(pool, limit, rng)
    rest_idx, test_idx = stratified_split(pool.y, test_fraction, rng)
    rest = take(pool, rest_idx)
    train_idx, val_idx = stratified_split(rest.y, val_fraction / (1 - test_fraction), rng)
    parts = (take(rest, train_idx), take(rest, val_idx), take(pool, test_idx))
    # Digits are not mirror-symmetric: a flipped "2" is not a "2".
    return to_splits(name, parts, num_classes=int(pool.y.max()) + 1, hflip=False)


def stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) index arrays: round(fraction * N) held out, shared by class size."""
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _apportion(counts, round(fraction * len(labels)))
    kept, held = [], []
    for label, quota in zip(classes, quotas, strict=True):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.append(members[:quota])
        kept.append(members[quota:])
    # Shuffle so that batches taken in order would not be sorted by class.
    return rng.permutation(np.concatenate(kept)), rng.permutation(np.concatenate(held))


def _apportion(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` over classes in proportion to `counts` (largest remainder: sums exactly)."""
    exact = counts * total / counts.sum()
    quotas = np.floor(exact).astype(np.int64)
    order = np.argsort(quotas - exact, kind="stable")  # largest fractional part first
    quotas[order[: total - quotas.sum()]] += 1
    return quotas


def subset(pool: Pool, limit: int | None, rng: np.random.Generator) -> Pool:
    if limit is None or limit >= len(pool.y):
        return pool
    _, chosen = stratified_split(pool.y, limit / len(pool.y), rng)
    return take(pool, chosen)


def take(pool: Pool, index: np.ndarray) -> Pool:
    return Pool(pool.x[index], pool.y[index])


def concat(pools: list[Pool]) -> Pool:
    return Pool(np.concatenate([p.x for p in pools]), np.concatenate([p.y for p in pools]))


def to_splits(
    name: str, parts: tuple[Pool, Pool, Pool], *, num_classes: int, hflip: bool
) -> DataSplits:
    train = parts[0]
    mean = train.x.mean(axis=(0, 2, 3), keepdims=True)
    std = train.x.std(axis=(0, 2, 3), keepdims=True) + 1e-6

    def tensors(pool: Pool) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(((pool.x - mean) / std).astype(np.float32))
        return x.contiguous(), torch.from_numpy(pool.y.astype(np.int64))

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = map(tensors, parts)
    shape = (int(train_x.shape[1]), int(train_x.shape[2]), int(train_x.shape[3]))
    return DataSplits(
        train_x, train_y, val_x, val_y, test_x, test_y, num_classes, shape, name, hflip
    )
