"""How far an accuracy measured on a finite set of images can be trusted (binomial noise).

An accuracy `a` measured on `n` images is a binomial proportion. Two children's accuracies are
told apart only when their difference is larger than the 95 % interval of a difference of two
proportions; we use the Agresti-Caffo interval (add one right and one wrong answer to each
count, then the normal approximation), which stays honest at accuracies near 1. It treats the
two measurements as independent, so for two children scored on the same images it is a little
wider than a paired test would be: a difference it calls real is real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def _adjusted(accuracy: float, images: int) -> tuple[float, float]:
    """(adjusted proportion, its variance) after adding one right and one wrong answer."""
    p = (accuracy * images + 1.0) / (images + 2.0)
    return p, p * (1.0 - p) / (images + 2.0)


def interval(accuracy: float, images: int) -> tuple[float, float]:
    """The 95 % interval of one accuracy measured on `images` images, clipped to [0, 1]."""
    p, variance = _adjusted(accuracy, images)
    half = Z95 * math.sqrt(variance)
    return max(0.0, p - half), min(1.0, p + half)


def difference_noise(a: float, images_a: int, b: float, images_b: int) -> float:
    """Half-width of the 95 % interval of `a - b`: smaller differences are noise."""
    return Z95 * math.sqrt(_adjusted(a, images_a)[1] + _adjusted(b, images_b)[1])


@dataclass(frozen=True)
class Comparison:
    """Two accuracies on a split, their difference and whether it is beyond the noise."""

    split: str  # "validation" or "test"
    images: int
    first: float
    second: float

    @property
    def difference(self) -> float:
        return self.first - self.second

    @property
    def noise(self) -> float:
        return difference_noise(self.first, self.images, self.second, self.images)

    @property
    def beyond_noise(self) -> bool:
        return abs(self.difference) > self.noise

    def sentence(self, first: str, second: str) -> str:
        """'test: OptSW - OptHW = +2.1 points, beyond the noise (+-1.3 points on 1,500 images)'."""
        verdict = "beyond the noise" if self.beyond_noise else "WITHIN the noise: not told apart"
        return (
            f"{self.split}: {first} - {second} = {100 * self.difference:+.1f} points, {verdict} "
            f"(95 % interval +-{100 * self.noise:.1f} points on {self.images:,} images)"
        )

    def as_json(self) -> dict[str, float | int | bool | str]:
        return {
            "split": self.split,
            "images": self.images,
            "difference": self.difference,
            "noise_95": self.noise,
            "beyond_noise": self.beyond_noise,
        }
