"""IoU and Dice, the joint flips, and training a U-Net child on synthetic nuclei."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from nuclei_fixture_data import make_paired_folder
from torch import nn

from coexplore.config import DataConfig
from coexplore.slow.builders import build_model
from coexplore.slow.folders import load_folder
from coexplore.slow.segmentation import flip_pair, iou_dice, segmentation_scores
from coexplore.slow.trainer import TrainConfig, evaluate, train_child
from coexplore.spaces import UnetArch, UnetLevel, UnetSpace


def test_iou_and_dice_by_hand() -> None:
    target = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]])
    pred = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 0]])
    scores = iou_dice(pred, target)  # TP 3, FP 1, FN 1
    assert scores.iou == pytest.approx(3 / 5) and scores.dice == pytest.approx(6 / 8)
    assert iou_dice(target, target).as_dict() == {"iou": 1.0, "dice": 1.0}
    assert iou_dice(torch.zeros(2, 2), torch.zeros(2, 2)).iou == 1.0  # nothing to find
    assert iou_dice(1 - target, target).iou == 0.0


def test_multiclass_scores_average_the_foreground_classes() -> None:
    target = torch.tensor([0, 1, 1, 2, 2])
    pred = torch.tensor([0, 1, 2, 2, 2])  # class 1: 1 / 2; class 2: 2 / 3
    assert iou_dice(pred, target, num_classes=3).iou == pytest.approx((1 / 2 + 2 / 3) / 2)


class Oracle(nn.Module):
    """Logits that put a given mask back together, whatever the input."""

    def __init__(self, masks: torch.Tensor) -> None:
        super().__init__()
        self.masks = masks
        self.scale = nn.Parameter(torch.ones(()))
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        masks = self.masks[self.seen : self.seen + len(x)].float()
        self.seen += len(x)
        return torch.stack([1 - masks, masks], dim=1) * self.scale


def test_evaluate_reports_iou_for_masks() -> None:
    masks = (torch.rand(5, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.7).long()
    images = torch.zeros(5, 3, 8, 8)
    assert evaluate(Oracle(masks), images, masks, batch_size=2) == 1.0
    scores = segmentation_scores(Oracle(1 - masks), images, masks, batch_size=3)
    assert scores.iou == 0.0 and scores.dice == 0.0


def test_flips_move_images_and_masks_together() -> None:
    masks = (torch.rand(16, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.5).long()
    images = masks[:, None].float().repeat(1, 3, 1, 1)
    flipped_x, flipped_y = flip_pair(images, masks, torch.Generator().manual_seed(2))
    assert torch.equal(flipped_x[:, 0].long(), flipped_y) and torch.equal(
        flipped_x[:, 2].long(), flipped_y
    )
    assert not torch.equal(flipped_y, masks)


def test_a_unet_child_learns_the_synthetic_nuclei(tmp_path: Path) -> None:
    root = make_paired_folder(tmp_path, count=12)
    data = load_folder("nuclei_folder", root, 0, 0.2, 0.2, None, DataConfig(resolution=16))
    space = UnetSpace(levels=2, base_filters=(8,))
    arch = UnetArch((UnetLevel(3, 8), UnetLevel(3, 16)))
    model = build_model(space, arch, data.input_shape, data.num_classes, seed=0)
    config = TrainConfig(epochs=8, batch_size=16, optimizer="adam", lr=0.01, device="cpu",
                         augment=True, threads=1, weight_decay=5e-4)  # fmt: skip
    result = train_child(model, data, config, seed=0)
    assert result.ok and result.epochs_run == 8
    assert result.val_accuracy == result.val_metrics["iou"] > 0.5
    assert result.val_metrics["dice"] >= result.val_metrics["iou"]  # Dice >= IoU always
    again = train_child(build_model(space, arch, data.input_shape, 2, seed=0), data, config, 0)
    assert again.curve == result.curve  # seeded: repeats exactly
