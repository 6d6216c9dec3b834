"""Tiny class-per-folder JPEG trees for the ImageNet tests (written into a tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("ant", "bee", "cat")


def make_image_folder(root: Path, per_class: int = 12, size: tuple[int, int] = (40, 32)) -> Path:
    """JPEGs whose colour says the class (red, green, blue), with noise; sizes vary a little."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (size[1] + i % 3, size[0], 3))
            pixels[..., label] += 160
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i:03d}.jpg")
    (root / "README.txt").write_text("not a class")  # loose files are ignored
    return root
