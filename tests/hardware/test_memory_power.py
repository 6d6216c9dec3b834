"""Block RAM and UltraRAM use against the vendor guides' tables, 8-bit DSP packing, and power."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coexplore.hardware.accelerator import (
    BRAM_SHAPES,
    Resources,
    Tiling,
    bram18k_for,
    dsp_slices,
    over_budget,
    resources,
    uram_for,
)
from coexplore.hardware.devices import (
    REGULATOR_EFFICIENCY,
    Precision,
    builtin_catalog,
    get_device,
)

# UG473 (7 series) Tables 1-3 / UG573 (UltraScale) Tables 1-1, 1-2: depth x width per block.
UG473_BRAM18 = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
UG473_BRAM36 = [(32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72)]


def test_the_shape_table_is_the_guides():
    expected = {(d, w, 1) for d, w in UG473_BRAM18} | {(d, w, 2) for d, w in UG473_BRAM36}
    assert set(BRAM_SHAPES) == expected


@pytest.mark.parametrize(("depth", "width"), UG473_BRAM18)
def test_a_bank_of_one_bram18_shape_takes_one_block(depth, width):
    # words as wide as the shape: parity bits hold data at 9/18/36, so every bit is usable
    assert bram18k_for(1, depth, width) == 1
    assert bram18k_for(1, depth + 1, width) == 2  # one word deeper needs a second block


@pytest.mark.parametrize(("depth", "width"), UG473_BRAM36)
def test_a_bank_of_one_bram36_shape_takes_two_bram18_units(depth, width):
    assert bram18k_for(1, depth, width) == 2
    # one word deeper: a third BRAM18 below it, except at x72, where no BRAM18 is that wide
    assert bram18k_for(1, depth + 1, width) == (4 if width == 72 else 3)


@given(st.integers(1, 300), st.integers(1, 70000), st.sampled_from([1, 2, 4, 8, 9, 16, 18, 32]))
def test_bram18_shapes_alone_find_the_cheapest_of_the_whole_table(banks, depth, word_bits):
    everything = bram18k_for(banks, depth, word_bits, shapes=BRAM_SHAPES)
    assert bram18k_for(banks, depth, word_bits) == everything


def test_parity_bits_hold_no_data_for_16_and_32_bit_words():
    # 1,025 words of 16 bits are 16,400 bits: under 18,432, but only 1,024 fit a 1K x 18 block
    assert bram18k_for(1, 1024, 16) == 1
    assert bram18k_for(1, 1025, 16) == 2
    assert bram18k_for(1, 512, 32) == 1 and bram18k_for(1, 513, 32) == 2
    assert bram18k_for(1, 2048, 8) == 1 and bram18k_for(1, 2049, 8) == 2  # 2K x 9, byte wide


def test_banks_read_at_one_address_share_wide_rows():
    # two 16-bit banks of 512 words fill one 512 x 36 row pair; apart they take a block each
    assert 2 * bram18k_for(1, 512, 16) == 2
    assert bram18k_for(2, 512, 16) == 1
    # 64 output banks of 169 fp32 words (a 13 x 13 tile): 64 x 32 bits = 64 columns x 36
    assert bram18k_for(64, 169, 32) == 64


def test_uram_is_4k_by_72_with_byte_enables():
    assert uram_for(1, 4096, 72) == 1 and uram_for(1, 4097, 72) == 2
    assert uram_for(4, 4096, 16) == 1  # four 16-bit words per 72-bit row (64 data bits)
    assert uram_for(5, 4096, 16) == 2


def test_lutram_threshold_is_1024_bits():
    device = get_device("XC7Z020")
    # output banks Tr x Tc words of 16 bits: 8 x 8 = 1,024 bits stay in LUT-RAM, 8 x 9 do not;
    # the input bank (K = 1, S = 1) is the same size as the output bank
    small = resources(Tiling(1, 1, 8, 8, 1, 1, 1), 1, 1, Precision.FIXED16, device)
    large = resources(Tiling(1, 1, 8, 9, 1, 1, 1), 1, 1, Precision.FIXED16, device)
    assert small.bram18k == 0 and large.bram18k == 2 * 2  # two buffers, double-buffered
    assert small.luts - large.luts == 2 * 2 * 1024 // 64  # the LUT-RAM the small one used


def test_feature_maps_move_to_uram_only_when_bram_runs_out():
    t = Tiling(16, 16, 32, 32, 1, 1, 1)  # 16 input banks of 4,761 words, 16 output of 1,024
    zu7 = get_device("XCZU7EV")
    # block RAM alone: input 2 x 80, output 2 x 16; weights (49 words) in LUT-RAM
    assert _memory(t, zu7) == (192, 0)
    # input in URAM: 16 x 16 bits = 4 URAM columns x 2 deep, double-buffered = 16
    assert _memory(t, dataclasses.replace(zu7, bram18k=100)) == (32, 16)
    # output too: 4 columns x 1 deep x 2 = 8 more
    assert _memory(t, dataclasses.replace(zu7, bram18k=20)) == (0, 24)
    # nothing fits: the block RAM figure is reported, and it is over budget
    tight = dataclasses.replace(zu7, bram18k=20, uram=10)
    assert _memory(t, tight) == (192, 0)
    res = resources(t, 7, 2, Precision.FIXED16, tight)
    assert over_budget(res, tight, Precision.FIXED16).startswith("BRAM18K 192 > 20")
    # a device without URAM never uses it
    assert _memory(t, dataclasses.replace(get_device("XC7Z020"), bram18k=100)) == (192, 0)


def _memory(t: Tiling, device) -> tuple[int, int]:
    res = resources(t, 7, 2, Precision.FIXED16, device)
    return res.bram18k, res.uram


def test_fixed8_packs_two_macs_per_dsp_along_tm():
    z020, zu9 = get_device("XC7Z020"), get_device("XCZU9EG")  # DSP48E1, DSP48E2
    assert dsp_slices(8, 8, Precision.FIXED8, z020) == 32
    assert dsp_slices(8, 8, Precision.FIXED8, zu9) == 32
    assert dsp_slices(3, 4, Precision.FIXED8, z020) == 8  # odd Tm: one lane per column alone
    assert dsp_slices(8, 8, Precision.FIXED16, z020) == 64
    assert dsp_slices(8, 8, Precision.FP32, z020) == 320
    no_packing = dataclasses.replace(
        z020, power=dataclasses.replace(z020.power, dsp_kind="DSP48A1")
    )
    assert dsp_slices(8, 8, Precision.FIXED8, no_packing) == 64
    assert resources(Tiling(8, 8, 4, 4, 1, 1, 1), 3, 1, Precision.FIXED8, z020).dsp == 32


def test_power_follows_the_formula():
    device = get_device("XC7Z020")
    p = device.power
    res = Resources(dsp=100, bram18k=50, luts=20000, port_words=4, uram=0, ffs=30000)
    dynamic_mw = 100 * p.dsp_mw + 50 * p.bram18k_mw + 20 * p.lut_mw_per_k
    dynamic_mw += 30 * p.ff_mw_per_k + p.clock_base_mw
    assert device.pl_power_w(res) == pytest.approx(device.static_w + dynamic_mw / 1000)
    board = device.pl_power_w(res) / REGULATOR_EFFICIENCY + device.board_w
    assert device.power_w(res) == pytest.approx(board)
    fast = dataclasses.replace(device, clock_mhz=200.0)  # dynamic power doubles with the clock
    assert fast.pl_power_w(res) - device.static_w == pytest.approx(2 * dynamic_mw / 1000)


@given(
    st.integers(0, 3000), st.integers(0, 2000), st.integers(0, 96),
    st.integers(0, 300000), st.integers(0, 600000), st.sampled_from(["dsp", "bram18k", "uram",
                                                                      "luts", "ffs"]),
)  # fmt: skip
def test_power_never_falls_when_a_resource_grows(dsp, bram, uram, luts, ffs, grow):
    # the optimiser's least-power bounds rely on this
    for device in builtin_catalog().values():
        res = Resources(dsp, bram, luts, 4, uram=uram, ffs=ffs)
        more = dataclasses.replace(res, **{grow: getattr(res, grow) + 1})
        assert device.power_w(more) >= device.power_w(res)


def test_every_power_figure_names_its_source():
    for device in builtin_catalog().values():
        assert device.source and device.power.source
        assert device.static_w > 0 and device.board_w > 0
