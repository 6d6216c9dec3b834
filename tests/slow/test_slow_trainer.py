from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import nn

from coexplore.slow.builders import build_model
from coexplore.slow.data import DataSplits, load_dataset
from coexplore.slow.trainer import TrainConfig, evaluate, train_child
from coexplore.spaces import ChainArch, ChainLayer, ChainSpace

# One thread: results repeat exactly, and a busy shared CPU does not stall the OpenMP team.
QUICK = TrainConfig(
    epochs=2,
    batch_size=64,
    optimizer="adam",
    lr=3e-3,
    augment=False,
    threads=1,
    device="cpu",
    weight_decay=5e-4,
)


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits", seed=0)


def chain_model(data: DataSplits, depth: int = 2, seed: int = 0) -> nn.Module:
    space = ChainSpace(depth=depth)
    arch = ChainArch(tuple(ChainLayer(3, 24) for _ in range(depth)))
    return build_model(space, arch, data.input_shape, data.num_classes, seed=seed)


class Broken(nn.Module):
    """Wraps a model and makes its output NaN, or raises a chosen error, in training."""

    def __init__(self, inner: nn.Module, error: Exception | None = None) -> None:
        super().__init__()
        self.inner, self.error = inner, error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.error is not None:
            raise self.error
        return self.inner(x) * float("nan")


@pytest.mark.slow
def test_a_chain_child_learns_digits(digits: DataSplits) -> None:
    config = dataclasses.replace(QUICK, epochs=12, augment=True)
    result = train_child(chain_model(digits, depth=4), digits, config, seed=0)
    assert result.ok, result.reason
    assert result.val_accuracy >= 0.95
    assert result.val_accuracy == result.curve[-1]
    assert result.epochs_run == 12 == len(result.curve) == len(result.train_loss_curve)
    assert result.train_loss_curve[-1] < result.train_loss_curve[0]
    assert result.seconds < 30


def test_trained_model_beats_chance_on_the_test_split(digits: DataSplits) -> None:
    model = chain_model(digits)
    before = evaluate(model, digits.test_x, digits.test_y)
    train_child(model, digits, QUICK, seed=0)
    assert evaluate(model, digits.test_x, digits.test_y) > max(0.5, before)


def test_same_seed_same_run(digits: DataSplits) -> None:
    config = dataclasses.replace(QUICK, augment=True)
    first = train_child(chain_model(digits), digits, config, seed=4)
    again = train_child(chain_model(digits), digits, config, seed=4)
    other = train_child(chain_model(digits), digits, config, seed=5)
    assert first.curve == again.curve and first.train_loss_curve == again.train_loss_curve
    assert first.train_loss_curve != other.train_loss_curve


def test_nan_loss_is_a_failed_child_not_a_crash(digits: DataSplits) -> None:
    result = train_child(Broken(chain_model(digits)), digits, QUICK, seed=0)
    assert not result.ok
    assert "NaN" in result.reason
    assert result.val_accuracy == 0.0 and result.epochs_run == 0


def test_a_huge_learning_rate_diverges_into_a_failed_child(digits: DataSplits) -> None:
    config = dataclasses.replace(QUICK, optimizer="sgd", lr=1e6, momentum=0.9, epochs=3)
    result = train_child(chain_model(digits), digits, config, seed=0)
    assert not result.ok
    assert any(word in result.reason for word in ("NaN", "inf", "max_loss"))


def test_max_loss_ends_the_child(digits: DataSplits) -> None:
    config = dataclasses.replace(QUICK, max_loss=1e-3)
    result = train_child(chain_model(digits), digits, config, seed=0)
    assert not result.ok and "max_loss" in result.reason
    assert len(result.train_loss_curve) == 1


def test_out_of_memory_is_a_failed_child(digits: DataSplits) -> None:
    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    result = train_child(Broken(chain_model(digits), error), digits, QUICK, seed=0)
    assert not result.ok and "out of memory" in result.reason


def test_other_runtime_errors_are_bugs_and_propagate(digits: DataSplits) -> None:
    error = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes"):
        train_child(Broken(chain_model(digits), error), digits, QUICK, seed=0)


def test_threads_are_restored_after_training(digits: DataSplits) -> None:
    before = torch.get_num_threads()
    train_child(chain_model(digits), digits, dataclasses.replace(QUICK, epochs=1), seed=0)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "options",
    [
        {"channels_last": True},
        {"bf16": True},
        {"optimizer": "sgd", "lr": 0.05},
        {"optimizer": "adamw", "lr_schedule": "constant"},
    ],
)
def test_options_train_correctly(digits: DataSplits, options: dict) -> None:
    config = dataclasses.replace(QUICK, epochs=3, **options)
    result = train_child(chain_model(digits), digits, config, seed=0)
    assert result.ok, result.reason
    assert result.val_accuracy > 0.5


def test_evaluate_counts_correct_predictions() -> None:
    class Oracle(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.one_hot(x[:, 0, 0, 0].long(), 3).float()

    labels = torch.tensor([0, 1, 2, 2, 1])
    images = labels.float().reshape(5, 1, 1, 1).expand(5, 1, 2, 2).clone()
    assert evaluate(Oracle(), images, labels, batch_size=2) == 1.0
    assert evaluate(Oracle(), images, (labels + 1) % 3) == 0.0
    assert evaluate(Oracle(), images[:0], labels[:0]) == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 0),
        ("optimizer", "rmsprop"),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("momentum", 1.0),
        ("weight_decay", -1.0),
        ("lr_schedule", "step"),
        ("threads", -1),
        ("device", "tpu"),
        ("max_loss", 0.0),
    ],
)
def test_config_errors_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"train\\.{field}"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("pieces", [(1, 3), (2, 3), (1, 2, 3)])
@pytest.mark.parametrize("options", [{"augment": True}, {"optimizer": "sgd", "augment": False}])
def test_training_in_pieces_ends_where_training_straight_through_does(
    digits: DataSplits, pieces: tuple[int, ...], options: dict
) -> None:
    """Multi-fidelity rungs: stop after some epochs, go on later from the handed-back state."""
    config = dataclasses.replace(QUICK, epochs=3, **options)
    straight_model = chain_model(digits)
    straight = train_child(straight_model, digits, config, seed=3)
    state = b""
    for until in pieces:
        model = chain_model(digits)  # a fresh process would rebuild the child from its seed
        part = train_child(model, digits, config, seed=3, until_epoch=until, resume_from=state)
        assert part.ok and part.epochs_run == until == len(part.curve)
        assert bool(part.state) == (until < config.epochs), "a state only when more can follow"
        state = part.state
    assert part.curve == straight.curve and part.train_loss_curve == straight.train_loss_curve
    for mine, theirs in zip(model.state_dict().values(), straight_model.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(mine, theirs)


def test_a_stopped_child_reports_its_accuracy_so_far(digits: DataSplits) -> None:
    config = dataclasses.replace(QUICK, epochs=3)
    part = train_child(chain_model(digits), digits, config, seed=0, until_epoch=1)
    assert part.val_accuracy == part.curve[-1] and len(part.curve) == 1 and part.state
