"""The element-wise functions and the LayerNorm of the engine, in words (docs/fixed-point.md,
"Activations, gates and LayerNorm"): numpy only, each a definition of the contract.

- Tables (`build_table`, `table_index`): sigmoid, tanh and the gates of SiLU (sigmoid) and GELU
  (the normal CDF) as 2**T words indexed by the top T bits of the input word (T = 8 for fixed8:
  every word; T = 10 for fixed16: 64 words an entry), each entry the function at the middle
  of its words, computed in float64 with C's exp / tanh / erfc and rounded once.
- Hard-sigmoid and hard-swish exactly: a clamp, a product, one division by 6 rounded half up.
- LayerNorm over the channels of a pixel: sums exact, the variance's reciprocal square root
  from an integer square root of a normalised integer (`rsqrt`), then the gain and shift.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from coexplore.errors import InputError
from coexplore.hardware.engine.fixed import IntArray, align, requant, saturate

FloatArray = npt.NDArray[np.float64]

TABLE_BITS = 10  # index bits of a table at most: 1,024 words, one BRAM18 of 16-bit words
TABLE_CLAMP = 64.0  # tables evaluate f(clamp(v, -64, 64)): no overflow, f is flat out there
# The table each function reads: sigmoid and tanh are their own; SiLU and GELU multiply the
# input word by their gate's table (sigmoid, the normal CDF); hard-swish needs none.
TABLE_OF = {"sigmoid": "sigmoid", "tanh": "tanh", "silu": "sigmoid", "gelu": "normal_cdf"}
GATED = ("silu", "gelu")  # x * table(x), the table in GATE_FRAC(bits) fraction bits


def gate_frac(bits: int) -> int:
    """The format of a gate table's words (sigmoid, normal CDF; in (0, 1)): B - 1 fraction
    bits, 1.0 saturating one step below."""
    return bits - 1


def table_bits(bits: int) -> int:
    return min(bits, TABLE_BITS)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _normal_cdf(v: float) -> float:
    return 0.5 * math.erfc(-v * math.sqrt(0.5))


_TABLE_FUNCTIONS = {"sigmoid": _sigmoid, "tanh": math.tanh, "normal_cdf": _normal_cdf}


def table_inputs(in_frac: int, bits: int) -> FloatArray:
    """The input value of each entry: the middle of its 2**(B - T) words,
    (lo + (2**(B - T) - 1) / 2) * 2**-in_frac with lo = (i - 2**(T - 1)) * 2**(B - T)."""
    t = table_bits(bits)
    width = 1 << (bits - t)
    low = (np.arange(1 << t, dtype=np.int64) - (1 << (t - 1))) * width
    return (low + (width - 1) / 2) * 2.0**-in_frac


def build_table(table: str, in_frac: int, out_frac: int, bits: int) -> IntArray:
    """The 2**T words of `table` (sigmoid, tanh, normal_cdf) for inputs of `in_frac`, as words
    of `out_frac`: floor(f(v) * 2**out_frac + 1/2), saturated, f evaluated in float64 by C's
    exp / tanh / erfc (Python's math calls them) at v clamped to +-TABLE_CLAMP."""
    if table not in _TABLE_FUNCTIONS:
        raise InputError(f"no table for {table!r}")
    function = _TABLE_FUNCTIONS[table]
    inputs = np.clip(table_inputs(in_frac, bits), -TABLE_CLAMP, TABLE_CLAMP)
    values = [function(float(v)) for v in inputs]
    scaled = np.floor(np.asarray(values) * 2.0**out_frac + 0.5)
    limit = float(1 << bits)
    return saturate(np.clip(scaled, -limit, limit).astype(np.int64), bits)


def table_index(words: IntArray, bits: int) -> IntArray:
    """The entry of each word: its top T bits as an offset from the lowest, (x >> (B - T)) +
    2**(T - 1)."""
    t = table_bits(bits)
    return (words >> (bits - t)) + (1 << (t - 1))


def lookup(table: IntArray, words: IntArray, bits: int) -> IntArray:
    return table[table_index(words, bits)]


def div6(values: IntArray, from_frac: int, to_frac: int, bits: int) -> IntArray:
    """v * 2**(to - from) / 6 rounded half up, saturated: floor((v + 3 * 2**s) / (6 * 2**s))
    for s = from - to >= 0, else floor((v * 2**-s + 3) / 6)."""
    s = from_frac - to_frac
    if s >= 0:
        return saturate((values + 3 * (1 << s)) // (6 << s), bits)
    return saturate(((values << -s) + 3) // 6, bits)


def _hard_gate(words: IntArray, frac: int) -> tuple[IntArray, IntArray, int]:
    """(x, clamp(x + 3, 0, 6)) in the format f' = max(frac, 0) (exact: a left shift)."""
    f = max(frac, 0)
    x = words << (f - frac)
    return x, np.clip(x + 3 * (1 << f), 0, 6 * (1 << f)), f


def hard_sigmoid(words: IntArray, frac: int, out_frac: int, bits: int) -> IntArray:
    """relu6(x + 3) / 6 of words of `frac`, as words of `out_frac` (one rounding)."""
    _, gate, f = _hard_gate(words, frac)
    return div6(gate, f, out_frac, bits)


def hard_swish(words: IntArray, frac: int, out_frac: int, bits: int) -> IntArray:
    """x * relu6(x + 3) / 6: the product exact in format 2 f', then one rounding."""
    x, gate, f = _hard_gate(words, frac)
    return div6(x * gate, 2 * f, out_frac, bits)


def hard_bound(frac: int, out_frac: int, bits: int, product: bool) -> float:
    """The largest magnitude `div6` adds up for hard-swish (product) or hard-sigmoid."""
    f = max(frac, 0)
    x, gate = 2.0 ** (bits - 1 + f - frac), 6.0 * 2.0**f
    value, wide = (x * gate, 2 * f) if product else (gate, f)
    return value * 2.0 ** max(0, out_frac - wide) + 3.0 * 2.0 ** max(0, wide - out_frac)


# -- LayerNorm ------------------------------------------------------------------------------

RSQRT_BITS = 31  # R = floor(2**31 / sqrt(m)) for m in [2**28, 2**30): 2**16 < R <= 2**17
NORMAL_BITS = 30  # the normalised variance m has 29 or 30 bits


def norm_frac(channels: int, bits: int) -> int:
    """The format of the normalised value z (|z| < sqrt(C)) as a wide word below 2**(2B - 1):
    2B - 1 - ceil(log2(C) / 2)."""
    return 2 * bits - 1 - (int(channels - 1).bit_length() + 1) // 2


def eps_words(eps: float, channels: int, frac: int) -> int:
    """eps in the units of V = C * sum x**2 - (sum x)**2 for words of `frac`:
    max(1, floor(eps * C**2 * 2**(2 frac) + 1/2)), in float64."""
    return max(1, math.floor(eps * channels * channels * 2.0 ** (2 * frac) + 0.5))


def bit_length(values: IntArray) -> IntArray:
    """The bits of each positive int64 (1 for 1), by halving steps: exact, no float."""
    v = values.copy()
    length = np.ones_like(v)
    for shift in (32, 16, 8, 4, 2, 1):
        high = v >= (1 << shift)
        v = np.where(high, v >> shift, v)
        length = length + np.where(high, shift, 0)
    return length


def isqrt(values: IntArray) -> IntArray:
    """floor(sqrt(n)) of each non-negative int64 below 2**52: float64's square root, then
    corrected by one where it is off."""
    root = np.floor(np.sqrt(values.astype(np.float64))).astype(np.int64)
    root = np.where(root * root > values, root - 1, root)
    return np.where((root + 1) * (root + 1) <= values, root + 1, root)


def rsqrt(v: IntArray) -> tuple[IntArray, IntArray]:
    """(R, e) with R * 2**-(31 + e) ~ 1 / sqrt(v) for v >= 1: e = ceil((bitlen(v) - 30) / 2),
    m = v / 4**e (a right shift, floor, for e >= 0; exact for e < 0), R = isqrt(floor(2**62 /
    m)) = floor(2**31 / sqrt(m))."""
    e = -((NORMAL_BITS - bit_length(v)) // 2)  # ceil((bitlen - 30) / 2)
    m = np.where(e >= 0, v >> np.maximum(2 * e, 0), v << np.maximum(-2 * e, 0))
    return isqrt((1 << (2 * RSQRT_BITS)) // m), e


def layer_norm(
    x: IntArray, frac: int, gain: IntArray, gain_frac: int, shift: IntArray | None,
    shift_frac: int, eps: int, out_frac: int, bits: int,
) -> IntArray:  # fmt: skip
    """LayerNorm over axis 1 (channels) of words x (images, C, rows, cols) of `frac`:
    S1 = sum x, S2 = sum x**2, V = C S2 - S1**2 + eps (exact), (R, e) = rsqrt(V),
    z = rnd((C x - S1) R, 31 + e - Z) with Z = norm_frac(C), t = z gain + align(shift, ...,
    Z + gain_frac), y = requant(t, Z + gain_frac, out_frac)."""
    channels = x.shape[1]
    s1 = x.sum(axis=1, keepdims=True)
    v = channels * (x * x).sum(axis=1, keepdims=True) - s1 * s1 + eps
    r, e = rsqrt(v)
    z_frac = norm_frac(channels, bits)
    z = _round_by(((channels * x) - s1) * r, RSQRT_BITS + e - z_frac)
    wide = z_frac + gain_frac
    t = z * gain[None, :, None, None]
    if shift is not None:
        t = t + align(shift, shift_frac, wide)[None, :, None, None]
    return requant(t, wide, out_frac, bits)


def _round_by(values: IntArray, shifts: IntArray) -> IntArray:
    """`rnd` with a shift per element (broadcast): round half up, or a left shift."""
    right = np.maximum(shifts, 0)
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    return np.where(shifts > 0, (values + half) >> right, values << np.maximum(-shifts, 0))


def norm_bound(channels: int, eps: int, bits: int) -> float:
    """The largest wide value of a norm's statistics and its normalised product."""
    word = 2.0 ** (bits - 1)
    variance = channels * channels * word * word + eps
    return max(variance, channels * 2 * word * 2.0 ** (RSQRT_BITS - 14))


# -- in float64 (the float reference and calibration) ----------------------------------------


def float_function(function: str, x: FloatArray) -> FloatArray:
    """An act function (or a scale's gate function; '' is the identity) in float64."""
    from scipy.special import expit, ndtr  # the logistic function, the normal CDF

    if function == "sigmoid":
        return np.asarray(expit(x))
    if function == "tanh":
        return np.tanh(x)
    if function == "silu":
        return x * expit(x)
    if function == "gelu":
        return x * ndtr(x)
    if function == "hswish":
        return x * float_hard_sigmoid(x)
    return x


def float_hard_sigmoid(x: FloatArray) -> FloatArray:
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def float_layer_norm(
    x: FloatArray, gain: FloatArray, shift: FloatArray | None, eps: float
) -> FloatArray:
    """LayerNorm over axis 1 of (images, C, rows, cols): the biased variance, as torch."""
    mean = x.mean(axis=1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    y = (x - mean) / np.sqrt(variance + eps) * gain[None, :, None, None]
    return y if shift is None else y + shift[None, :, None, None]
