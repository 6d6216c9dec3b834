"""`nuclei_folder`: microscopy images with nucleus masks, cut into fixed-size crops in memory.

Two layouts under the root, recognised automatically:
  paired      root/images/<name>.<ext> and root/masks/<name>.<ext> (same file stem)
  per sample  root/<id>/images/<id>.png and root/<id>/masks/*.png, one mask per nucleus (the
              Kaggle Data Science Bowl 2018 `stage1_train` layout); the masks are united
Any non-zero mask pixel is a nucleus. Images are read as RGB in [0, 1]; labels are (H, W) int64
masks with 0 = background and 1 = nucleus, so `num_classes` is 2.

Splits are by image, so crops of one image never straddle two splits: a seeded permutation gives
round(test_fraction * n) test images, round(val_fraction * n) (at least one) validation images
and the rest for training. `limit` first keeps a seeded random subset of `limit` images.

Crops of size x size (`resolution`): each training image gives max(1, H * W // size^2) crops at
uniform random positions, drawn once at load time from the seed (so the set stays one tensor in
memory and a run repeats exactly); validation and test images are cut into the centred grid of
non-overlapping tiles, so their scores are deterministic. An image smaller than a crop is first
resized (image bilinear, mask nearest) so that its shorter side equals the crop size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from coexplore.errors import InputError
from coexplore.slow.images import (
    image_files,
    read_all,
    read_mask,
    read_rgb,
    require_dir,
    subfolders,
)
from coexplore.slow.splits import DataSplits, Pool, to_splits

WHAT = "nuclei_folder"
SPLIT_STREAM, CROP_STREAM = 1, 2  # named generators drawn from the one seed


@dataclass(frozen=True)
class Sample:
    image: Path
    masks: tuple[Path, ...]


def find_samples(root: Path) -> list[Sample]:
    """The (image, masks) pairs under `root`, sorted; ValueError naming the path when malformed."""
    require_dir(root, WHAT)
    if (root / "images").is_dir():
        return _paired(root)
    samples = [_one_sample(f) for f in subfolders(root) if (f / "images").is_dir()]
    if not samples:
        raise InputError(f"{WHAT}: {root} has neither images/ and masks/ folders nor "
                         "<sample>/images/ and <sample>/masks/ folders")  # fmt: skip
    return samples


def _paired(root: Path) -> list[Sample]:
    images = image_files(root / "images", WHAT)
    masks = {p.stem: p for p in image_files(require_dir(root / "masks", WHAT), WHAT)}
    for image in images:
        if image.stem not in masks:
            raise InputError(f"{WHAT}: no mask named {image.stem}.* in {root / 'masks'} "
                             f"for image {image}")  # fmt: skip
    return [Sample(image, (masks[image.stem],)) for image in images]


def _one_sample(folder: Path) -> Sample:
    images = image_files(folder / "images", WHAT)
    if len(images) != 1:
        raise InputError(f"{WHAT}: expected one image in {folder / 'images'}, found {len(images)}")
    masks = image_files(require_dir(folder / "masks", WHAT), WHAT)
    return Sample(images[0], tuple(masks))


def load_nuclei_folder(
    root: Path, seed: int, val_fraction: float, test_fraction: float, limit: int | None, size: int
) -> DataSplits:
    samples = find_samples(root)
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    order = rng.permutation(len(samples))[: limit or None]
    n = len(order)
    n_test, n_val = round(test_fraction * n), max(1, round(val_fraction * n))
    if n - n_test - n_val < 1:
        raise InputError(f"{WHAT}: {n} images in {root} are too few to split into training, "
                         f"validation ({val_fraction}) and test ({test_fraction})")  # fmt: skip
    test, val, train = np.split(order, [n_test, n_test + n_val])
    parts = (
        _crops(samples, train, size, seed, random=True),
        _crops(samples, val, size, seed, random=False),
        _crops(samples, test, size, seed, random=False),
    )
    return to_splits(WHAT, parts, num_classes=2, hflip=True)


def _crops(samples: list[Sample], index: np.ndarray, size: int, seed: int, *, random: bool) -> Pool:
    """Random crops (training) or tiles of the images at `index`, read on a few threads."""

    def cut(i: int) -> tuple[np.ndarray, np.ndarray]:
        image, mask = _read(samples[i], size)
        if random:  # one generator per image: the same crops whatever the thread order
            corners = _random_corners(
                mask.shape, size, np.random.default_rng([seed, CROP_STREAM, i])
            )
        else:
            corners = _tiles(mask.shape, size)
        xs = np.stack([image[:, r : r + size, c : c + size] for r, c in corners])
        ys = np.stack([mask[r : r + size, c : c + size] for r, c in corners])
        return xs, ys

    pieces = read_all(cut, [int(i) for i in index])
    if not pieces:
        return Pool(np.zeros((0, 3, size, size), np.float32), np.zeros((0, size, size), np.int64))
    return Pool(np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces]))


def _read(sample: Sample, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (3, H, W) float32 and mask (H, W) int64, resized up when shorter than `size`."""
    image, mask = read_rgb(sample.image), read_mask(sample.masks)
    if mask.shape != image.shape[1:]:
        raise InputError(f"{WHAT}: mask size {mask.shape} differs from image size "
                         f"{image.shape[1:]} for {sample.image}")  # fmt: skip
    shorter = min(mask.shape)
    if shorter < size:
        new = tuple(math.ceil(d * size / shorter) for d in mask.shape)
        image = F.interpolate(torch.from_numpy(image)[None], new, mode="bilinear")[0].numpy()
        mask = F.interpolate(torch.from_numpy(mask)[None, None].float(), new)[0, 0].numpy() > 0
    return image, mask.astype(np.int64)


def _random_corners(
    shape: tuple[int, ...], size: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    rows, cols = shape
    count = max(1, rows * cols // (size * size))
    tops, lefts = rng.integers(0, rows - size + 1, count), rng.integers(0, cols - size + 1, count)
    return [(int(r), int(c)) for r, c in zip(tops, lefts, strict=True)]


def _tiles(shape: tuple[int, ...], size: int) -> list[tuple[int, int]]:
    rows, cols = shape
    down, across = rows // size, cols // size
    top, left = (rows - down * size) // 2, (cols - across * size) // 2
    return [(top + i * size, left + j * size) for i in range(down) for j in range(across)]
