"""Expected hypervolume improvement on one (hardware metric, accuracy) plane, both maximised.

The hardware metric x of a candidate is exact (the fast level computed it); only its accuracy
Y ~ N(mean, std) is uncertain. Then the improvement is a piecewise-linear function of Y, and its
expectation has a closed form:

    HVI(y) = integral from ref_y to y of max(0, x - G(t)) dt

where G(t) is the largest x already dominated at accuracy t (the front's staircase; ref_x where
no front point is that accurate). G is a step function with steps at the front's accuracies
t_1 < ... < t_K, so HVI(y) = sum_k w_k * clip(y - t_k, 0, t_{k+1} - t_k) with constant widths
w_k, and E[clip(Y - a, 0, b - a)] = E[(Y - a)+] - E[(Y - b)+] for a Gaussian Y.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from coexplore.results.pareto import Point, staircase

_TINY_STD = 1e-9


def expected_improvement(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, front: Sequence[Point], reference: Point
) -> np.ndarray:
    """E[hypervolume improvement] of each candidate (x exact, accuracy ~ N(mean, std))."""
    levels, dominated = staircase(front, reference)
    widths = np.maximum(0.0, x[:, None] - dominated[None, :])  # [candidates, steps]
    low = levels[None, :]
    high = np.append(levels[1:], np.inf)[None, :]
    s = np.maximum(std, _TINY_STD)[:, None]
    m = mean[:, None]
    gain = _expected_excess(m, s, low) - _expected_excess(m, s, high)
    return np.asarray((widths * gain).sum(axis=1))


def _expected_excess(mean: np.ndarray, std: np.ndarray, level: np.ndarray) -> np.ndarray:
    """E[(Y - level)+] for Y ~ N(mean, std); 0 at level = +infinity."""
    with np.errstate(invalid="ignore"):
        z = (mean - level) / std
        value = (mean - level) * ndtr(z) + std * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return np.where(np.isinf(level), 0.0, value)
