"""The reward (hotNAS form): R = alpha * acc_r + (1 - alpha) * hw_r, each in [-1, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coexplore.errors import InputError

PRUNED_REWARD = -1.0


def normalise(value: float, low: float, high: float) -> float:
    """Map [low, high] linearly onto [-1, 1], clipped."""
    return max(-1.0, min(1.0, 2.0 * (value - low) / (high - low) - 1.0))


@dataclass(frozen=True)
class Reward:
    alpha: float
    metric: str  # "fps", "gops_per_w" or "pipeline_efficiency"
    acc_bounds: tuple[float, float]
    hw_bounds: tuple[float, float]

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise InputError(f"reward alpha must be in [0, 1], got {self.alpha}")
        for name in ("acc_bounds", "hw_bounds"):
            low, high = getattr(self, name)
            if not low < high:
                raise InputError(f"reward {name}: low must be below high, got {(low, high)}")

    def __call__(self, accuracy: float, metrics: Mapping[str, float]) -> float:
        acc_r = normalise(accuracy, *self.acc_bounds)
        if self.alpha == 1.0:
            return acc_r
        hw_r = normalise(metrics[self.metric], *self.hw_bounds)
        return self.alpha * acc_r + (1.0 - self.alpha) * hw_r


def default_hw_bounds(metric: str, spec_fps: float) -> tuple[float, float]:
    """Bounds used when the config leaves them at (0, 0)."""
    if metric == "fps":
        return (spec_fps, 4.0 * spec_fps)
    if metric == "pipeline_efficiency":
        return (0.0, 1.0)
    raise InputError(f"reward.hw_bounds must be set for metric {metric!r}")
