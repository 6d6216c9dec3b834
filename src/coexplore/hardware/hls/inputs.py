"""What an exported engine is fed without a run: images from an .npy file or seeded random
ones, and formats calibrated on them in numpy (`reference.run_float`, one pass, as
docs/fixed-point.md's worked example)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coexplore.errors import InputError
from coexplore.hardware.engine.fixed import Calibrator
from coexplore.hardware.engine.net import EngineNet, Shape
from coexplore.hardware.engine.quantise import QuantNet, quantise
from coexplore.hardware.engine.reference import run_float

RANDOM_SEED = 0  # calibration's random images
SIMULATION_SEED = 1  # a C simulation's random images: others than it calibrated on
RANDOM_IMAGES = 64  # calibration images when none are given
BATCH = 16  # images per float pass


def load_images(path: Path, shape: Shape) -> np.ndarray:
    """Float images (N, C, H, W) from an .npy file (one image of (C, H, W) too)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not an .npy array of images ({exc})") from None
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape) or not len(x):
        raise InputError(f"{path}: images of shape {x.shape}, the network takes N x {shape}")
    return np.asarray(x, dtype=np.float64)


def random_images(count: int, shape: Shape, seed: int = RANDOM_SEED) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, *shape))


def random_description(count: int, seed: int = RANDOM_SEED) -> str:
    return f"{count} random images (standard normal, seed {seed})"


def calibrated(net: EngineNet, images: np.ndarray, bits: int) -> QuantNet:
    """The net in `bits`-bit words, formats chosen on `images` (one float64 pass, in batches)."""
    calibrator = Calibrator(bits)
    for start in range(0, len(images), BATCH):
        run_float(net, images[start : start + BATCH], calibrator.observe)
    return quantise(net, bits, calibrator.fracs())
