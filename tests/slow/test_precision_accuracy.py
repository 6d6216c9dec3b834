"""The accuracy a trained child has on the engine at each precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coexplore.errors import InputError
from coexplore.hardware.devices import Precision
from coexplore.hardware.engine.reference import input_words, predict, run_integer
from coexplore.slow import precision_accuracy
from coexplore.slow.builders import build_model
from coexplore.slow.data import load_dataset
from coexplore.slow.engine_convert import engine_net
from coexplore.slow.precision_accuracy import (
    accuracy_at_precisions,
    batch_images,
    calibrate,
    calibration_batch,
    integer_accuracy,
)
from coexplore.slow.segmentation import iou_dice
from coexplore.slow.splits import DataSplits
from coexplore.slow.trainer import TrainConfig, evaluate, train_child
from coexplore.spaces import ChainArch, ChainLayer, ChainSpace, UnetSpace

CPU = torch.device("cpu")
BOTH = [Precision.FIXED16, Precision.FIXED8]


@pytest.fixture(scope="module")
def trained_chain() -> tuple[torch.nn.Module, DataSplits]:
    """A small chain trained on the 8 x 8 digits to about 95 % (a few seconds on one core)."""
    data = load_dataset("digits", seed=0, val_fraction=0.3, test_fraction=0.2)
    arch = ChainArch((ChainLayer(3, 24), ChainLayer(3, 36, 2), ChainLayer(1, 24)))
    model = build_model(ChainSpace(depth=3, stride_mode="predictable"), arch, (1, 8, 8), 10)
    result = train_child(model, data, TrainConfig(epochs=6, threads=1), seed=0)
    assert result.ok and result.val_accuracy > 0.9
    return model.eval(), data


def test_fixed16_is_within_a_third_of_a_point_of_float(trained_chain) -> None:  # type: ignore[no-untyped-def]
    model, data = trained_chain
    result = accuracy_at_precisions(model, data, [Precision.FP32, *BOTH], seed=0)
    assert result.float_accuracy == evaluate(model, data.val_x, data.val_y)
    assert result.at(Precision.FP32) == result.float_accuracy
    assert abs(result.at(Precision.FIXED16) - result.float_accuracy) <= 0.003
    assert result.at(Precision.FIXED8) > result.float_accuracy - 0.05  # a sane fixed8
    assert result.images == len(data.val_y) and result.split == "val"
    with pytest.raises(InputError, match="not measured"):
        accuracy_at_precisions(model, data, [Precision.FIXED8], seed=0).at(Precision.FIXED16)


def test_integer_accuracy_counts_the_reference_predictions(trained_chain) -> None:  # type: ignore[no-untyped-def]
    """The fast path's accuracy is the numpy reference's predictions scored (ties included)."""
    model, data = trained_chain
    net = engine_net(model, data.input_shape)
    x, y = data.test_x[:120], data.test_y[:120]
    for qnet in calibrate(net, calibration_batch(data, 5, 64), BOTH, CPU):
        words = run_integer(qnet, input_words(qnet, x.double().numpy()))
        expected = float(np.mean(predict(words) == y.numpy()))
        assert integer_accuracy(qnet, x, y, CPU) == expected


def test_test_split_and_given_float_accuracy(trained_chain) -> None:  # type: ignore[no-untyped-def]
    model, data = trained_chain
    result = accuracy_at_precisions(model, data, [Precision.FIXED8], seed=1, split="test",
                                    float_accuracy=0.5)  # fmt: skip
    assert result.float_accuracy == 0.5 and result.images == len(data.test_y)
    assert result.accuracies[0][0] is Precision.FIXED8
    with pytest.raises(InputError, match="split"):
        accuracy_at_precisions(model, data, BOTH, seed=0, split="train")


def test_a_subset_scores_the_change_a_precision_makes_there(trained_chain) -> None:  # type: ignore[no-untyped-def]
    """On the first k images: the whole split's float accuracy plus (precision - float) on
    those k images, each measured by itself; clipped to [0, 1]."""
    model, data = trained_chain
    whole = evaluate(model, data.val_x, data.val_y)
    k = 40
    x, y = data.val_x[:k], data.val_y[:k]
    qnets = calibrate(
        engine_net(model, data.input_shape), calibration_batch(data, 2, 256), BOTH, CPU
    )
    for given in (whole, 0.0, 1.0):
        result = accuracy_at_precisions(model, data, BOTH, seed=2, float_accuracy=given, images=k)
        assert result.images == k and result.float_accuracy == given
        for precision, qnet in zip(BOTH, qnets, strict=True):
            change = integer_accuracy(qnet, x, y, CPU) - evaluate(model, x, y)
            assert result.at(precision) == pytest.approx(min(1.0, max(0.0, given + change)))
    # without the whole split's float accuracy the subset is scored as it is
    alone = accuracy_at_precisions(model, data, BOTH, seed=2, images=k)
    assert alone.float_accuracy == evaluate(model, x, y)
    assert alone.at(Precision.FIXED8) == integer_accuracy(qnets[1], x, y, CPU)


def test_the_model_is_left_as_it_was(trained_chain) -> None:  # type: ignore[no-untyped-def]
    model, data = trained_chain
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    accuracy_at_precisions(model, data, BOTH, seed=0, float_accuracy=0.0)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()


def test_calibration_images_are_a_seeded_draw_of_the_training_split(trained_chain) -> None:  # type: ignore[no-untyped-def]
    _, data = trained_chain
    first, again = calibration_batch(data, 3, 50), calibration_batch(data, 3, 50)
    assert torch.equal(first, again) and len(first) == 50
    assert not torch.equal(first, calibration_batch(data, 4, 50))
    rows = {tuple(image.flatten().tolist()) for image in data.train_x}
    assert all(tuple(image.flatten().tolist()) in rows for image in first)
    assert len(calibration_batch(data, 3, 10**6)) == len(data.train_x)
    with pytest.raises(InputError, match="calibration"):
        calibration_batch(data, 3, 0)


def test_segmentation_scores_the_iou_of_the_integer_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over several passes (5 images each): the confusion counts add up across them."""
    monkeypatch.setattr(precision_accuracy, "BATCH_IMAGES", 5)
    rng = np.random.default_rng(0)
    space = UnetSpace(levels=2)
    shape = (1, 8, 8)
    model = build_model(space, space.sample(rng), shape, 2, seed=0).eval()

    def split(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.tensor(rng.normal(size=(count, *shape)), dtype=torch.float32)
        return images, (images[:, 0] > 0.3).long()

    (tx, ty), (vx, vy), (sx, sy) = split(20), split(12), split(4)
    data = DataSplits(tx, ty, vx, vy, sx, sy, 2, shape, "masks")
    result = accuracy_at_precisions(model, data, BOTH, seed=0)
    assert result.float_accuracy == evaluate(model, vx, vy)  # the trainer's IoU
    (qnet, _) = calibrate(engine_net(model, shape), calibration_batch(data, 0, 256), BOTH, CPU)
    masks = predict(run_integer(qnet, input_words(qnet, vx.double().numpy())))
    expected = iou_dice(torch.tensor(masks), vy).iou
    assert result.at(Precision.FIXED16) == pytest.approx(expected, abs=1e-12)


def test_large_images_go_in_fewer_per_pass() -> None:
    space = UnetSpace(levels=2)
    arch = space.sample(np.random.default_rng(0))
    small = engine_net(build_model(space, arch, (1, 8, 8), 2).eval(), (1, 8, 8))
    large = engine_net(build_model(space, arch, (1, 256, 256), 2).eval(), (1, 256, 256))
    assert batch_images(small) == 250
    widest = max(int(np.prod(op.out_shape)) for op in large.ops)
    assert batch_images(large) * widest <= 1 << 25 < (batch_images(large) + 1) * widest
