"""Reading image files with Pillow for the folder datasets; every failure names the path.

A missing or malformed folder or file is a ValueError with one line that names the path, so
the CLI prints it as is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from coexplore.errors import InputError

IMAGE_SUFFIXES = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})
S = TypeVar("S")
T = TypeVar("T")


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(f"{what}: no such directory: {path}")
    return path


def subfolders(path: Path) -> list[Path]:
    """Visible subfolders, sorted by name (the order that fixes class indices)."""
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(folder: Path, what: str) -> list[Path]:
    """The image files of `folder` (by suffix, any case), sorted by name; at least one."""
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise InputError(f"{what}: no image files ({suffixes}) in {folder}")
    return files


def read_rgb(path: Path, size: int = 0) -> np.ndarray:
    """An image as (3, H, W) float32 in [0, 1]; with `size`, resized so the shorter side is
    `size` and centre-cropped to size x size (bilinear)."""
    try:
        with Image.open(path) as image:
            if size:
                image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            rgb = image.convert("RGB")
            if size:
                rgb = ImageOps.fit(rgb, (size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(rgb, dtype=np.float32)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"malformed image {path}: {error}") from None
    return pixels.transpose(2, 0, 1) / 255.0


def read_mask(paths: Iterable[Path]) -> np.ndarray:
    """The union of one or more mask images as (H, W) bool: any non-zero pixel is foreground."""
    union: np.ndarray | None = None
    for path in paths:
        try:
            with Image.open(path) as image:
                mask = np.asarray(image.convert("L")) > 0
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise InputError(f"malformed mask {path}: {error}") from None
        if union is not None and mask.shape != union.shape:
            raise InputError(f"mask {path}: size {mask.shape} differs from {union.shape}")
        union = mask if union is None else union | mask
    if union is None:
        raise InputError("read_mask: no mask files given")
    return union


def read_all(read: Callable[[S], T], items: list[S]) -> list[T]:
    """`read` over `items` in order, on a few threads (Pillow decodes without holding the GIL)."""
    threads = min(8, os.cpu_count() or 1, max(1, len(items)))
    if threads == 1:
        return [read(item) for item in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(read, items))
