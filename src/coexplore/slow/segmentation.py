"""Segmentation metrics (IoU, Dice) and the augmentation that moves images and masks together.

A dataset is a segmentation set when its labels are masks, (N, H, W) of class indices per pixel,
instead of (N,) class indices; the model then returns logits of shape (N, classes, H, W) and the
trainer's cross-entropy works per pixel unchanged.

The "accuracy" the search sees for a segmentation child is the IoU (docs/spaces.md). Both scores
are dataset-level: true/false positives and false negatives are summed over every pixel of the
split before dividing, so crops without nuclei do not skew them. With more than two classes they
are averaged over the foreground classes 1..K-1 that occur in the prediction or the target; when
none occurs anywhere the prediction is perfect and both scores are 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SegmentationScores:
    iou: float  # |P ∩ T| / |P ∪ T| of the foreground
    dice: float  # 2 |P ∩ T| / (|P| + |T|)

    def as_dict(self) -> dict[str, float]:
        return {"iou": self.iou, "dice": self.dice}


def is_segmentation(labels: torch.Tensor) -> bool:
    """Masks (N, H, W) rather than class labels (N,)."""
    return labels.ndim == 3


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) pixel counts: row = target class, column = predicted class."""
    index = target.flatten().long() * num_classes + pred.flatten().long()
    counts = torch.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def scores_of(confusion_counts: torch.Tensor) -> SegmentationScores:
    """IoU and Dice from a confusion matrix, averaged over the foreground classes present."""
    counts = confusion_counts.double()
    tp = counts.diagonal()
    fp, fn = counts.sum(0) - tp, counts.sum(1) - tp
    present = (tp + fp + fn)[1:] > 0
    if not present.any():
        return SegmentationScores(1.0, 1.0)
    tp, fp, fn = tp[1:][present], fp[1:][present], fn[1:][present]
    iou = (tp / (tp + fp + fn)).mean().item()
    dice = (2 * tp / (2 * tp + fp + fn)).mean().item()
    return SegmentationScores(iou, dice)


def iou_dice(pred: torch.Tensor, target: torch.Tensor, num_classes: int = 2) -> SegmentationScores:
    """Scores of predicted class maps against target masks of the same shape."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return scores_of(confusion(pred, target, num_classes))


@torch.no_grad()
def segmentation_scores(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 64, bf16: bool = False
) -> SegmentationScores:
    """Scores of `model` on images x and masks y in eval mode, on the model's device.

    No examples score 0.0, as `trainer.evaluate` does for classification.
    """
    if len(y) == 0:
        return SegmentationScores(0.0, 0.0)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    total: torch.Tensor | None = None
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb)
        counts = confusion(logits.argmax(dim=1), yb, logits.shape[1])
        total = counts if total is None else total + counts
    model.train(was_training)
    assert total is not None
    return scores_of(total)


def flip_pair(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random left-right and up-down flips, the same for each image (N, C, H, W) and its mask
    (N, H, W). Nuclei have no orientation, so every flip keeps the labels right."""
    draws = torch.rand(2, len(y), generator=generator, device=x.device) < 0.5
    for flip, image_dim in zip(draws, (3, 2), strict=True):
        x = torch.where(flip[:, None, None, None], x.flip(image_dim), x)
        y = torch.where(flip[:, None, None], y.flip(image_dim - 1), y)
    return x, y
