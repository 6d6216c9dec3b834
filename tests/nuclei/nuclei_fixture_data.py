"""Synthetic nuclei for the segmentation tests: bright noisy blobs on a dark field, with masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def nucleus_image(rng: np.random.Generator, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols, 3) uint8 image and (rows, cols) bool mask of 3-6 elliptic blobs."""
    yy, xx = np.mgrid[:rows, :cols]
    mask = np.zeros((rows, cols), dtype=bool)
    for _ in range(int(rng.integers(3, 7))):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        ry, rx = rng.uniform(3, 7, size=2)
        mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    gray = 30 + 150 * mask + rng.normal(0, 20, (rows, cols))
    tint = np.stack([gray * 0.6, gray * 0.7, gray], axis=-1)  # bluish, as in DAPI stains
    return np.clip(tint, 0, 255).astype(np.uint8), mask


def make_paired_folder(root: Path, count: int = 10, seed: int = 0) -> Path:
    """root/images/<name>.png and root/masks/<name>.png (mask 0 / 255), sizes 40..47 x 48."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        image, mask = nucleus_image(rng, 40 + i % 8, 48)
        Image.fromarray(image).save(root / "images" / f"cell{i:02d}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"cell{i:02d}.png")
    return root


def make_dsb_folder(root: Path, count: int = 6, seed: int = 1) -> Path:
    """The Data Science Bowl 2018 layout: root/<id>/images/<id>.png, root/<id>/masks/*.png with
    one mask per nucleus (here: the left and right halves of the blob mask)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        sample = root / f"id{i:03d}"
        (sample / "images").mkdir(parents=True)
        (sample / "masks").mkdir()
        image, mask = nucleus_image(rng, 32, 40)
        Image.fromarray(image).save(sample / "images" / f"id{i:03d}.png")
        left, right = mask.copy(), mask.copy()
        left[:, 20:], right[:, :20] = False, False
        for name, part in (("a", left), ("b", right)):
            Image.fromarray(part.astype(np.uint8) * 255).save(sample / "masks" / f"{name}.png")
    return root
