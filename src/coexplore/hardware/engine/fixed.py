"""The word arithmetic of the engine: dynamic fixed point (Qiu et al., FPGA'16), numpy only.

A value is a signed word of B bits (B = 16 for fixed16, 8 for fixed8) with a per-tensor format:
`frac` fraction bits, so the word q stands for q * 2**-frac. Formats are powers of two chosen
per layer (weights) and per tensor (activations) from calibration images, so every change of
format is a shift. docs/fixed-point.md is the contract; every function here is one of its
definitions, in int64 numpy.

- `rnd(v, s)`: the one rounding rule, round half up: (v + 2**(s-1)) >> s, an arithmetic shift
  (floor), for s > 0; exact for s <= 0 (a left shift).
- `saturate(v, bits)`: clip to [-2**(bits-1), 2**(bits-1) - 1].
- `requant(v, from_frac, to_frac, bits)`: a wide value into a word of another format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from coexplore.errors import InputError
from coexplore.hardware.devices import Precision

IntArray = npt.NDArray[np.int64]

RECIPROCAL_BITS = 24  # fraction bits of the reciprocal an average pool multiplies by


def word_bits(precision: Precision) -> int:
    """The word width of a fixed-point precision; fp32 has no words."""
    if precision is Precision.FP32:
        raise InputError("fp32 is floating point: it has no fixed-point words")
    return precision.word_bits


def frac_limits(bits: int) -> tuple[int, int]:
    """Formats are kept within [-2 bits, 2 bits] fraction bits so that every aligned bias and
    accumulator stays far inside int64 (a tensor of tiny or huge values would ask for more)."""
    return -2 * bits, 2 * bits


def saturate(values: IntArray, bits: int) -> IntArray:
    return np.clip(values, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


MAX_SHIFT = 62  # a right shift beyond this gives the same as 62 for every |v| < 2**61


def rnd(values: IntArray, shift: int) -> IntArray:
    """Round half up by `shift` bits (floor((v + 2**(s-1)) / 2**s)); a left shift for s <= 0.
    Right shifts are capped at MAX_SHIFT (0 for every value this arithmetic makes)."""
    if shift > 0:
        shift = min(shift, MAX_SHIFT)
        return (values + (1 << (shift - 1))) >> shift
    return values << -shift


def requant(values: IntArray, from_frac: int, to_frac: int, bits: int) -> IntArray:
    """A wide value of `from_frac` fraction bits as a saturated word of `to_frac`. A finer
    target saturates first and shifts by at most `bits` (any non-zero word saturates by then),
    so that the left shift cannot overflow; the result is that of the exact shift."""
    shift = from_frac - to_frac
    if shift < 0:
        return saturate(saturate(values, bits) << min(-shift, bits), bits)
    return saturate(rnd(values, shift), bits)


def align(values: IntArray, from_frac: int, to_frac: int) -> IntArray:
    """A word moved to a finer format exactly (a left shift); quantisation keeps to_frac >=
    from_frac wherever this is used (biases and shifts never have finer formats than the
    accumulator they join)."""
    if to_frac < from_frac:
        raise InputError(f"align: {from_frac} -> {to_frac} would lose bits")
    return values << (to_frac - from_frac)


def to_words(values: npt.ArrayLike, frac: int, bits: int) -> IntArray:
    """Float values as words: round half up of v * 2**frac, saturated (float64 arithmetic)."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0**frac
    limit = float(1 << bits)  # clipped first: the float-to-int conversion cannot overflow
    return saturate(np.floor(np.clip(scaled, -limit, limit) + 0.5).astype(np.int64), bits)


def from_words(words: IntArray, frac: int) -> npt.NDArray[np.float64]:
    return words.astype(np.float64) * 2.0**-frac


def reciprocal(count: IntArray | int) -> IntArray:
    """round half up of 2**RECIPROCAL_BITS / count, in integers: (2**(R+1) + n) // (2 n)."""
    n = np.asarray(count, dtype=np.int64)
    return (np.int64(1 << (RECIPROCAL_BITS + 1)) + n) // (2 * n)


def max_frac(largest: float, bits: int) -> int:
    """The finest format that holds `largest` (a magnitude) without saturating: the largest f
    with largest <= 2**(bits - 1 - f), i.e. f = bits - 1 - ceil(log2 largest); an all-zero
    tensor gets bits - 1. (A value exactly 2**e saturates to the top word, 1 step below.)"""
    low, high = frac_limits(bits)
    if not largest > 0 or not math.isfinite(largest):
        return min(max(bits - 1, low), high)
    mantissa, exponent = math.frexp(largest)  # largest = mantissa * 2**exponent, m in [0.5, 1)
    ceil_log2 = exponent - 1 if mantissa == 0.5 else exponent
    return min(max(bits - 1 - ceil_log2, low), high)


@dataclass
class Calibrator:
    """Chooses the activation formats from calibration images: `observe(site, values)` for
    every batch (a site: the network input, or (op, position) of `net.format_sites`), then
    `fracs()`: per site the finest format that holds the largest magnitude seen (`max_frac`).

    Formats that saturate the largest values for finer steps elsewhere (Qiu et al.'s search
    for the least summed absolute error among the no-saturation format and two finer ones) were
    tried and lost accuracy: on default-preset chain children up to 0.35 points at fixed16 and
    0.85 at fixed8 against none for these formats (docs/fixed-point.md).
    """

    bits: int
    largest: dict[object, float] = field(default_factory=dict)

    def observe(self, site: object, values: npt.NDArray[np.floating]) -> None:
        top = float(np.abs(values).max(initial=0.0))
        self.largest[site] = max(self.largest.get(site, 0.0), top)

    def fracs(self) -> dict[object, int]:
        return {site: max_frac(top, self.bits) for site, top in self.largest.items()}
