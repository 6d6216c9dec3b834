"""The word arithmetic of docs/fixed-point.md against exact rational arithmetic (no torch)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.errors import InputError
from coexplore.hardware.devices import Precision
from coexplore.hardware.engine.fixed import (
    RECIPROCAL_BITS,
    Calibrator,
    align,
    from_words,
    max_frac,
    reciprocal,
    requant,
    rnd,
    saturate,
    to_words,
    word_bits,
)

BITS = st.sampled_from([8, 16])


def floor_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def sat(value: int, bits: int) -> int:
    return min(max(value, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(1 << 50), 1 << 50), min_size=1, max_size=20), st.integers(-8, 40))
def test_rnd_is_round_half_up_of_the_exact_quotient(values: list[int], shift: int) -> None:
    expected = [floor_half_up(Fraction(v) / Fraction(2) ** shift) for v in values]
    assert rnd(np.array(values, dtype=np.int64), shift).tolist() == expected


def test_rnd_breaks_ties_upwards_for_both_signs() -> None:
    # v / 2 = -2.5, -1.5, -0.5, 0.5, 1.5, 2.5: half up gives -2, -1, 0, 1, 2, 3
    assert rnd(np.array([-5, -3, -1, 1, 3, 5]), 1).tolist() == [-2, -1, 0, 1, 2, 3]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-(1 << 48), 1 << 48), min_size=1, max_size=20),
    st.integers(-40, 70),
    st.integers(-40, 70),
    BITS,
)
def test_requant_rounds_once_and_saturates(
    values: list[int], from_frac: int, to_frac: int, bits: int
) -> None:
    got = requant(np.array(values, dtype=np.int64), from_frac, to_frac, bits).tolist()
    exact = [Fraction(v) * Fraction(2) ** (to_frac - from_frac) for v in values]
    assert got == [sat(floor_half_up(x), bits) for x in exact]


def test_saturate_clips_to_the_word() -> None:
    words = saturate(np.array([-1000, -129, -128, 0, 127, 128, 1000]), 8)
    assert words.tolist() == [-128, -128, -128, 0, 127, 127, 127]


def test_align_is_exact_and_refuses_to_lose_bits() -> None:
    assert align(np.array([-3, 5]), 2, 6).tolist() == [-48, 80]
    with pytest.raises(InputError):
        align(np.array([1]), 6, 2)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20),
    st.integers(-32, 32),
    BITS,
)
def test_to_words_rounds_half_up_and_saturates(values: list[float], frac: int, bits: int) -> None:
    expected = [sat(floor_half_up(Fraction(v) * Fraction(2) ** frac), bits) for v in values]
    assert to_words(values, frac, bits).tolist() == expected


def test_to_words_ties() -> None:
    assert to_words([-2.5, -0.5, 0.5, 2.5], 0, 8).tolist() == [-2, 0, 1, 3]
    assert from_words(to_words([0.75], 2, 8), 2).tolist() == [0.75]


@given(st.integers(1, 1 << 20))
def test_reciprocal_is_the_rounded_power_of_two_over_n(count: int) -> None:
    exact = Fraction(1 << RECIPROCAL_BITS, count)
    assert int(reciprocal(count)) == floor_half_up(exact)


@settings(max_examples=300)
@given(st.floats(1e-6, 1e6), BITS)
def test_max_frac_is_the_finest_format_that_holds_the_value(largest: float, bits: int) -> None:
    frac = max_frac(largest, bits)
    low, high = -2 * bits, 2 * bits
    if low < frac < high:
        assert Fraction(largest) <= Fraction(2) ** (bits - 1 - frac)
        assert Fraction(largest) > Fraction(2) ** (bits - 2 - frac)  # one finer would not hold it


def test_max_frac_edges() -> None:
    assert max_frac(1.0, 8) == 7  # exactly 2**0: saturates one step below, 127/128
    assert max_frac(1.01, 8) == 6
    assert max_frac(0.0, 16) == 15  # an all-zero tensor
    assert max_frac(1e-30, 8) == 16 and max_frac(1e30, 8) == -16  # clipped to [-2 B, 2 B]


def test_calibrator_takes_the_largest_magnitude_over_all_batches() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.standard_t(3, size=(4, 3, 5, 5)) for _ in range(3)]
    calibrator = Calibrator(8)
    for batch in batches:
        calibrator.observe("site", batch)
    calibrator.observe("zeros", np.zeros((2, 3)))
    largest = max(float(np.abs(b).max()) for b in batches)
    assert calibrator.fracs() == {"site": max_frac(largest, 8), "zeros": 7}


def test_word_bits_of_each_precision() -> None:
    assert word_bits(Precision.FIXED16) == 16 and word_bits(Precision.FIXED8) == 8
    with pytest.raises(InputError, match="fp32"):
        word_bits(Precision.FP32)
