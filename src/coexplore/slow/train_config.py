"""How a child is trained: one config dataclass, torch-free, so the config file's [train]
section is this class (coexplore.config) and the trainer (coexplore.slow.trainer) reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from coexplore.errors import InputError

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """How one child is trained: the config's [train] section (its keys, in this order, and
    its defaults). `momentum` is used by SGD only."""

    epochs: int = 4
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 0.003
    momentum: float = 0.9
    weight_decay: float = 0.0001
    lr_schedule: str = "cosine"  # cosine decays to 0 over all steps, per step
    augment: bool = False  # random crop with padding; left-right flip where the dataset allows
    channels_last: bool = False
    bf16: bool = False  # bfloat16 autocast for forward and loss
    threads: int = 1  # torch intra-op threads while training; 0 keeps the process's setting
    device: str = "auto"  # auto: CUDA when present
    max_loss: float = 100.0  # an epoch's mean training loss above this is divergence

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "optimizer": self.optimizer in OPTIMIZERS,
            "lr": math.isfinite(self.lr) and self.lr > 0,
            "momentum": 0 <= self.momentum < 1,
            "weight_decay": self.weight_decay >= 0,
            "lr_schedule": self.lr_schedule in LR_SCHEDULES,
            "threads": self.threads >= 0,
            "device": self.device in DEVICES,
            "max_loss": self.max_loss > 0,
        }
        allowed = {"optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "device": DEVICES}
        for name, ok in checks.items():
            if not ok:
                hint = f"one of {allowed[name]}" if name in allowed else "out of range"
                raise InputError(f"TrainConfig.{name}: {getattr(self, name)!r} is {hint}")
