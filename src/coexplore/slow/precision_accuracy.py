"""The accuracy a trained child has on the engine, at each precision: what the training job
calls after (float) training.

`accuracy_at_precisions(model, data, precisions, seed=...)` converts the model to an engine net
(`coexplore.slow.engine_convert`), chooses the fixed-point formats from CALIBRATION_IMAGES
training images drawn with `seed`, and scores the split (validation by default; the picks'
test split the same way) through the integer arithmetic (`coexplore.slow.engine_torch`, bit
for bit docs/fixed-point.md). The metric is the trainer's: top-1 accuracy for classification,
the foreground IoU over all pixels of the split for segmentation (`slow.segmentation`).
`fp32` is the float model itself.

Calibration images: 256. A format is a power of two set by the largest magnitude a tensor
takes, so it only moves when that crosses a power of two: on six default-preset chain children
5 of 84 formats from 256 images differ (by a bit) from those of all 1,500 training images, and
fixed16 accuracy equals float in all six (docs/fixed-point.md). One float pass over them costs
an eighth of a pass over 2,000 validation images. Drawn from the training split, never the
split scored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from coexplore.errors import InputError
from coexplore.hardware.devices import Precision
from coexplore.hardware.engine.fixed import Calibrator, word_bits
from coexplore.hardware.engine.net import EngineNet
from coexplore.hardware.engine.quantise import QuantNet, quantise
from coexplore.slow.engine_convert import engine_net
from coexplore.slow.engine_torch import FloatEngine, IntegerEngine
from coexplore.slow.segmentation import confusion, is_segmentation, scores_of
from coexplore.slow.splits import DataSplits
from coexplore.slow.trainer import evaluate

CALIBRATION_IMAGES = 256
BATCH_IMAGES = 250  # images per pass at most (a default-preset chain child: 100 MB a tensor)
BATCH_WORDS = 1 << 25  # and at most this many values in its largest tensor (256 MB in float64)


def batch_images(net: EngineNet) -> int:
    """Images per pass: BATCH_IMAGES, fewer where the largest tensor would pass BATCH_WORDS
    (a U-Net at full resolution)."""
    largest = max(math.prod(shape) for op in net.ops for shape in (op.in_shape, op.out_shape))
    return min(BATCH_IMAGES, max(1, BATCH_WORDS // largest))


@dataclass(frozen=True)
class PrecisionAccuracy:
    """Accuracies of one child on one split: float, and at each precision asked."""

    float_accuracy: float
    accuracies: tuple[tuple[Precision, float], ...]  # in the order asked
    split: str
    images: int
    seconds: float  # conversion, calibration and the integer passes

    def at(self, precision: Precision) -> float:
        for asked, accuracy in self.accuracies:
            if asked is precision:
                return accuracy
        raise InputError(f"accuracy at {precision} was not measured")


def accuracy_at_precisions(
    model: nn.Module,
    data: DataSplits,
    precisions: Iterable[Precision],
    *,
    seed: int,
    split: str = "val",
    calibration_images: int = CALIBRATION_IMAGES,
    float_accuracy: float | None = None,
    images: int = 0,
) -> PrecisionAccuracy:
    """Accuracy of the trained `model` on `split` ("val" or "test") at each of `precisions`.

    With `images` > 0 (fewer than the split holds) and the whole split's `float_accuracy`
    given, the integer passes run on the first `images` images only, and a precision's
    accuracy is `float_accuracy` plus the change it makes there (its accuracy minus float's on
    the same images, clipped to [0, 1]): a paired estimate, far less noisy than the subset's
    own accuracy, as float and fixed point agree on almost every image.

    `float_accuracy` skips the float pass when the caller has it (the trainer's last
    validation accuracy is exactly that, on the whole split). The model is left as it was
    (mode, weights); the fixed-point passes run on the CPU wherever the model is (the float
    path on a GPU, cuDNN off, is written but has not run on one).
    """
    start = time.perf_counter()
    x, y = _split(data, split)
    subset = 0 < images < len(y)
    if subset:
        x, y = x[:images], y[:images]
    precisions = list(dict.fromkeys(precisions))
    if float_accuracy is None:
        float_accuracy, subset = evaluate(model, x, y), False
    # On a subset, a precision's accuracy is the whole split's float accuracy plus the change
    # the precision makes on the subset (paired: the same images both ways).
    baseline = evaluate(model, x, y) if subset else float_accuracy
    fixed = [p for p in precisions if p is not Precision.FP32]
    results = {Precision.FP32: float_accuracy}
    if fixed:
        net = engine_net(model, data.input_shape)
        device = torch.device("cpu")  # the exact int8 path is the CPU's (exact_conv)
        calibration = calibration_batch(data, seed, calibration_images)
        qnets = calibrate(net, calibration, fixed, device)
        for precision, qnet in zip(fixed, qnets, strict=True):
            change = integer_accuracy(qnet, x, y, device) - baseline
            results[precision] = min(1.0, max(0.0, float_accuracy + change))
    accuracies = tuple((p, results[p]) for p in precisions)
    seconds = time.perf_counter() - start
    return PrecisionAccuracy(float_accuracy, accuracies, split, len(y), seconds)


def calibration_batch(data: DataSplits, seed: int, images: int) -> torch.Tensor:
    """`images` training images drawn without replacement with `seed` (all if fewer)."""
    count = len(data.train_x)
    if images < 1 or count == 0:
        raise InputError(f"calibration needs at least one training image, got {images} of {count}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(count, size=min(images, count), replace=False))
    return data.train_x[torch.as_tensor(chosen)]


def calibrate(
    net: EngineNet, images: torch.Tensor, precisions: Sequence[Precision], device: torch.device
) -> list[QuantNet]:
    """The net quantised at each precision, formats chosen on `images` (one float pass)."""
    engine = FloatEngine(net, device)
    calibrators = [Calibrator(word_bits(p)) for p in precisions]

    def observe(site: object, values: np.ndarray) -> None:
        for calibrator in calibrators:
            calibrator.observe(site, values)

    batch = batch_images(net)
    for start in range(0, len(images), batch):
        engine(images[start : start + batch], observe)
    return [quantise(net, c.bits, c.fracs()) for c in calibrators]


def integer_accuracy(
    qnet: QuantNet, x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> float:
    """The metric of the engine's integer outputs on (x, y): top-1, or IoU for masks."""
    engine = IntegerEngine(qnet, device)
    correct, counts = 0, torch.zeros((), dtype=torch.int64)
    batch = batch_images(qnet.net)
    for start in range(0, len(y), batch):
        words = engine(engine.input_words(x[start : start + batch]))
        predicted = words.argmax(dim=1)  # the lowest index among equal words
        target = y[start : start + batch].to(predicted.device)
        if is_segmentation(y):
            counts = counts + confusion(predicted, target, words.shape[1])
        else:
            correct += int((predicted.flatten() == target).sum().item())
    if is_segmentation(y):
        return scores_of(counts).iou if len(y) else 0.0
    return correct / len(y) if len(y) else 0.0


def _split(data: DataSplits, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    if split == "val":
        return data.val_x, data.val_y
    if split == "test":
        return data.test_x, data.test_y
    raise InputError(f"split must be 'val' or 'test', got {split!r}")
