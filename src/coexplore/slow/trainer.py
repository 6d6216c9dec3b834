"""Child training: a short proxy schedule on in-memory tensors, read top to bottom.

A child whose loss turns NaN/inf or passes `max_loss`, or that runs out of memory, comes back
as `TrainResult(ok=False, reason=...)`: a failed trial, never a crash of the search.

Segmentation sets (labels are (N, H, W) masks) train with the same per-pixel cross-entropy;
their "accuracy" is the foreground IoU, and `val_metrics` adds IoU and Dice
(`coexplore.slow.segmentation`). Their augmentation flips images and masks together.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.config import TrainConfig
from coexplore.errors import InputError
from coexplore.slow.data import DataSplits, augment, crop_padding_px
from coexplore.slow.segmentation import flip_pair, is_segmentation, segmentation_scores

__all__ = ["TrainConfig", "TrainResult", "train_child"]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one child. `val_accuracy` is the last epoch's, 0.0 when `ok` is False."""

    ok: bool
    val_accuracy: float
    curve: tuple[float, ...]  # validation accuracy after each epoch
    train_loss_curve: tuple[float, ...]  # mean training loss of each epoch
    seconds: float
    epochs_run: int
    reason: str = ""
    val_metrics: dict[str, float] = field(default_factory=dict)  # segmentation: iou, dice
    state: bytes = b""  # stopped before config.epochs: what `train_child(resume_from=)` takes


def train_child(
    model: nn.Module,
    data: DataSplits,
    config: TrainConfig,
    seed: int,
    until_epoch: int = 0,
    resume_from: bytes | None = None,
) -> TrainResult:
    """Train `model` in place on `data.train_*`, validating on `data.val_*` after each epoch.

    Shuffling and augmentation draw from one torch.Generator seeded with `seed` (the weights
    were seeded when the model was built), so a run repeats exactly on the same device.

    Multi-fidelity training stops early and goes on later: `until_epoch` (0: all
    `config.epochs`) ends this call there, and the result's `state` holds everything needed to
    continue (weights, optimizer, schedule, generator); `resume_from` takes such a state. The
    learning-rate schedule always spans `config.epochs`, so training in pieces gives exactly the
    weights and curve of training straight through.
    """
    start = time.perf_counter()
    device = resolve_device(config.device)
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    run = _Run(until_epoch or config.epochs, resume_from)
    curve, losses = run.curve, run.losses
    try:
        reason = _train(model, data, config, seed, device, run)
    except RuntimeError as error:  # torch.OutOfMemoryError is a RuntimeError
        if not _is_out_of_memory(error):
            raise
        reason = f"out of memory: {str(error).splitlines()[0]}"
        if device.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        torch.set_num_threads(threads_before)  # the setting is process-wide: give it back
    ok = not reason
    accuracy = curve[-1] if ok else 0.0
    extra: dict[str, float] = {}
    if ok and is_segmentation(data.val_y):  # one more validation pass, for Dice next to IoU
        extra = segmentation_scores(model, data.val_x, data.val_y, bf16=config.bf16).as_dict()
    seconds = time.perf_counter() - start
    state = run.state if ok and len(curve) < config.epochs else b""
    return TrainResult(
        ok, accuracy, tuple(curve), tuple(losses), seconds, len(curve), reason, extra, state
    )


@dataclass
class _Run:
    """Where one call starts and stops, what it has measured, and the state it hands on."""

    until_epoch: int
    resume_from: bytes | None
    curve: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    state: bytes = b""


def _train(
    model: nn.Module,
    data: DataSplits,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    run: _Run,
) -> str:
    """The training loop; fills the run's curve and losses, returns "" or why the child failed."""
    curve, losses = run.curve, run.losses
    generator = torch.Generator(device=device).manual_seed(seed)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    train_x, train_y = data.train_x.to(device), data.train_y.to(device)
    val_x, val_y = data.val_x.to(device), data.val_y.to(device)
    batch_size = min(config.batch_size, len(train_y))
    steps_per_epoch = len(train_y) // batch_size  # the ragged last batch is dropped
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch * config.epochs)
    pad_px = crop_padding_px(data.input_shape)
    segmentation = is_segmentation(train_y)
    if run.resume_from:
        _load_state(run, model, optimizer, scheduler, generator, device)
    for epoch in range(len(curve) + 1, run.until_epoch + 1):
        model.train()
        order = torch.randperm(len(train_y), generator=generator, device=device)
        # Summed on the device: reading the loss every step would sync the GPU every step.
        loss_sum = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            x, y = train_x[index], train_y[index]
            if config.augment and segmentation:
                x, y = flip_pair(x, y, generator)
            elif config.augment:
                x = augment(x, generator, pad_px=pad_px, hflip=data.hflip)
            x = x.contiguous(memory_format=memory_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach()
        losses.append(loss_sum.item() / steps_per_epoch)
        if reason := _divergence(losses[-1], config.max_loss, epoch):
            return reason
        curve.append(evaluate(model, val_x, val_y, bf16=config.bf16))
    if len(curve) < config.epochs:
        run.state = _save_state(run, model, optimizer, scheduler, generator)
    return ""


def _save_state(
    run: _Run,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    generator: torch.Generator,
) -> bytes:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "generator": generator.get_state(),
        "curve": list(run.curve),
        "losses": list(run.losses),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _load_state(
    run: _Run,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    generator: torch.Generator,
    device: torch.device,
) -> None:
    assert run.resume_from is not None
    # weights_only: tensors and plain containers, nothing that can run code (STYLE: no pickle).
    state = torch.load(io.BytesIO(run.resume_from), map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"].cpu())
    run.curve[:] = state["curve"]
    run.losses[:] = state["losses"]


def load_weights(model: nn.Module, state: bytes) -> None:
    """The weights of a state `train_child` handed back (`TrainResult.state`) into `model`."""
    # weights_only: tensors and plain containers, nothing that can run code (no pickle).
    loaded = torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)
    model.load_state_dict(loaded["model"])


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1024,
    bf16: bool = False,
) -> float:
    """Accuracy of `model` on (x, y) in eval mode, on the model's device; 0.0 for no examples.

    For masks y (N, H, W) it is the foreground IoU, the "accuracy" of a segmentation child.
    """
    if is_segmentation(y):
        return segmentation_scores(model, x, y, bf16=bf16).iou
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb)
        correct += (logits.argmax(dim=1) == yb).sum()
    model.train(was_training)
    return correct.item() / len(y) if len(y) else 0.0


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params, lr, decay = model.parameters(), config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.lr_schedule == "constant":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))


def resolve_device(name: str) -> torch.device:
    """ "auto" is CUDA when present, else CPU; asking for absent CUDA is a configuration error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "train.device: 'cuda', but this machine has no CUDA GPU that torch can use; set "
            "train.device = 'auto' (CUDA when present) or 'cpu'"
        )
    return torch.device(name)


def _divergence(mean_loss: float, max_loss: float, epoch: int) -> str:
    if math.isnan(mean_loss):
        return f"training loss became NaN in epoch {epoch}"
    if math.isinf(mean_loss):
        return f"training loss became inf in epoch {epoch}"
    if mean_loss > max_loss:
        return f"training loss {mean_loss:.3g} exceeded max_loss {max_loss:g} in epoch {epoch}"
    return ""


def _is_out_of_memory(error: RuntimeError) -> bool:
    message = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or any(
        marker in message for marker in ("out of memory", "can't allocate memory")
    )
