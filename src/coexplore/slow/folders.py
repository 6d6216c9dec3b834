"""Folder datasets: ImageNet-style class folders, and nuclei images with masks.

`imagenet_folder`: root/<class>/<image>, one folder per class (an ILSVRC-2012 `train` folder,
or any such tree). Classes are the visible subfolders sorted by name (index = position);
`max_classes` keeps the first N of them and `max_per_class` the first N images of each, by file
name, so every seed sees the same images; `limit` then keeps a seeded stratified subset. Only
kept images are decoded: each is read as RGB, resized so its shorter side is `resolution` and
centre-cropped to a square (JPEGs are decoded at a reduced scale first, which is much faster).
Splits are stratified by class and seeded, as for `digits`; left-right flips keep the label.

`nuclei_folder`: see `coexplore.slow.nuclei_data` (images + masks, random crops).

`resolution` 0 means the dataset's default proxy size (its `folder_resolution` in
`coexplore.datasets.DATASETS`). Every missing or
malformed folder or image is a ValueError of one line that names the path; a missing root is a
ConfigError naming `data.root`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from coexplore.config import ConfigError, DataConfig
from coexplore.datasets import DATASETS, folder_datasets
from coexplore.errors import InputError
from coexplore.slow.images import image_files, read_all, read_rgb, require_dir, subfolders
from coexplore.slow.nuclei_data import find_samples, load_nuclei_folder
from coexplore.slow.splits import DataSplits, Pool, split_one_pool, stratified_split

SUBSET_STREAM = 1  # the generator that picks `limit` images, apart from the split's


def folder_size(data: DataConfig, dataset: str) -> int:
    """The square size a folder dataset's images are resized to (`data.resolution`, else the
    dataset's default)."""
    return data.resolution or DATASETS[dataset].folder_resolution


def folder_shape(data: DataConfig) -> tuple[tuple[int, int, int], int]:
    """((channels, rows, cols), classes) of a folder dataset, from folder listings only."""
    _check_folder_dataset(data.dataset)
    return DATASETS[data.dataset].shape_of(data)


def imagenet_shape(data: DataConfig) -> tuple[tuple[int, int, int], int]:
    """((channels, rows, cols), classes) of an imagenet_folder, from folder listings only."""
    root = dataset_root("imagenet_folder", data.root)
    size = folder_size(data, "imagenet_folder")
    return (3, size, size), len(class_folders(root, data.max_classes))


def nuclei_shape(data: DataConfig) -> tuple[tuple[int, int, int], int]:
    """((channels, rows, cols), classes) of a nuclei_folder, from folder listings only."""
    root = dataset_root("nuclei_folder", data.root)
    size = folder_size(data, "nuclei_folder")
    find_samples(root)  # fail now, not when the first child trains
    return (3, size, size), 2


def dataset_root(dataset: str, root: str | os.PathLike[str] | None) -> Path:
    _check_folder_dataset(dataset)
    if not root:
        raise ConfigError(f"config: data.root: dataset {dataset} reads a folder; set data.root "
                          "to it (e.g. --set data.root=/path/to/folder)")  # fmt: skip
    return Path(root).expanduser()


def class_folders(root: Path, max_classes: int = 0) -> list[Path]:
    """The first `max_classes` (0: all) class folders of `root`; at least two."""
    classes = subfolders(require_dir(root, "imagenet_folder"))[: max_classes or None]
    if len(classes) < 2:
        raise InputError(f"imagenet_folder: {root} needs at least two class folders "
                         f"(root/<class>/<image>), found {len(classes)}")  # fmt: skip
    return classes


def load_folder(
    dataset: str,
    root: str | os.PathLike[str] | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
    options: DataConfig,
) -> DataSplits:
    """Load a folder dataset with its options (`load_dataset` uses the default options)."""
    _check_folder_dataset(dataset)
    load = DATASETS[dataset].load_function(dataset)
    return load(root, seed, val_fraction, test_fraction, limit, options)


def _check_folder_dataset(dataset: str) -> None:
    if dataset not in folder_datasets():
        valid = ", ".join(folder_datasets())
        raise InputError(f"unknown folder dataset {dataset!r}; valid: {valid}")


def load_imagenet_folder(
    root: str | os.PathLike[str] | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
    options: DataConfig = DataConfig(),  # frozen: safe to share; its folder keys are read
) -> DataSplits:
    classes = class_folders(dataset_root("imagenet_folder", root), options.max_classes)
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(classes):
        kept = image_files(folder, "imagenet_folder")[: options.max_per_class or None]
        files += kept
        labels += [label] * len(kept)
    y = np.asarray(labels, dtype=np.int64)
    if limit is not None and limit < len(y):  # pick before decoding: unkept images cost nothing
        rng = np.random.default_rng([seed, SUBSET_STREAM])
        _, chosen = stratified_split(y, limit / len(y), rng)
        files, y = [files[i] for i in chosen], y[chosen]
    size = folder_size(options, "imagenet_folder")
    x = np.stack(read_all(lambda path: read_rgb(path, size), files))
    splits = split_one_pool("imagenet_folder", Pool(x, y), seed, val_fraction, test_fraction,
                             None)  # fmt: skip
    # Photos keep their label when mirrored; the head has a logit for every kept class.
    return dataclasses.replace(splits, hflip=True, num_classes=len(classes))


def load_nuclei(
    root: str | os.PathLike[str] | None,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    limit: int | None,
    options: DataConfig = DataConfig(),  # frozen: safe to share; its folder keys are read
) -> DataSplits:
    path = dataset_root("nuclei_folder", root)
    size = folder_size(options, "nuclei_folder")
    return load_nuclei_folder(path, seed, val_fraction, test_fraction, limit, size)
