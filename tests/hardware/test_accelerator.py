"""The tiled accelerator model against hand-computed values, and every resource limit."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.hardware.accelerator import (
    Tiling,
    compute_cycles,
    layer_bound,
    layer_cycles,
    over_budget,
    resources,
)
from coexplore.hardware.devices import Precision, get_device
from coexplore.workload import Layer, LayerKind

Z020 = get_device("XC7Z020")


def conv(n, m, rc, k, s=1):
    return Layer(LayerKind.CONV, n, m, rc, rc, k, s)


# Each case: layer, tiling, steady-state cycles (the paper's formula), fill and drain cycles
# (first tile's max(tI, tW) + last tile's tO), bound, with the arithmetic spelled out.
HAND_CASES = [
    # tI = 3*18*18/1 = 972, tW = 8*3*9/1 = 216, tO = 8*256/2 = 1024, tC = 9*256 = 2304
    # L2 = max(1*2304, 1024); cycles = 2*2*3*2304; fill 972 + 1024
    (conv(3, 24, 32, 3), Tiling(8, 3, 16, 16, 1, 1, 2), 27648, 1996, "compute"),
    # stride 2, K=7: tI = 16*21*21 = 7056, tW = ceil(16*16*49/2) = 6272, tO = 1024, tC = 3136
    # L2 = max(4*7056, 1024) = 28224; cycles = 1*1*4*28224; fill 7056 + 1024
    (conv(64, 64, 8, 7, 2), Tiling(16, 16, 8, 8, 1, 2, 1), 112896, 8080, "input"),
    # FC 4096->10: tI = 16, tW = 256, tO = 8, tC = 1; L2 = 128*256; cycles = 2*32768; 256 + 8
    (Layer(LayerKind.FC, 4096, 10, 1, 1), Tiling(8, 32, 4, 4, 2, 1, 1), 65536, 264, "weight"),
    # 1x1 conv 1->64 at 32x32: tO = 64*1024 = 65536 outlasts the input loop (1024); 1024+65536
    (conv(1, 64, 32, 1), Tiling(64, 1, 32, 32, 1, 1, 1), 65536, 66560, "output"),
]


@pytest.mark.parametrize(("layer", "tiling", "cycles", "fill", "bound"), HAND_CASES)
def test_cycles_match_hand_computation(layer, tiling, cycles, fill, bound):
    assert layer_cycles(layer, tiling, fill=False) == cycles
    assert layer_cycles(layer, tiling) == cycles + fill
    assert layer_bound(layer, tiling) == bound


def test_vectorised_cycles_equal_scalar_cycles():
    layer = conv(36, 48, 16, 5, 2)
    rng = np.random.default_rng(3)
    values = {f: rng.integers(1, 17, size=50) for f in ("tm", "tn", "tr", "tc", "ip", "wp", "op")}
    grid = type("Grid", (), values)
    for fill in (False, True):
        vector = layer_cycles(layer, grid, fill)
        for row in range(50):
            tiling = Tiling(**{f: int(v[row]) for f, v in values.items()})
            assert vector[row] == layer_cycles(layer, tiling, fill)


def test_halo_is_counted_in_the_input_tile():
    # 3x3 conv with a 4x4 output tile reads a 6x6 input tile per channel.
    layer = conv(4, 4, 4, 3)
    fast_port = Tiling(1, 4, 4, 4, 1, 8, 8)
    assert (
        layer_cycles(layer, fast_port, fill=False) == 4 * 4 * 6 * 6
    )  # input bound: ceil(N/Tn)=1, tI=144


def test_buffer_sizing_uses_bram_blocks_and_lutram():
    # input bank: (31*2+7)^2 = 4761 words * 16 bits -> 5 BRAM18; output bank 1024 words -> 1;
    # weight bank 49 words = 784 bits -> LUT-RAM. Double buffered: 2*(16*5 + 16*1) = 192.
    res = resources(Tiling(16, 16, 32, 32, 1, 1, 1), 7, 2, Precision.FIXED16, Z020)
    assert res.bram18k == 192
    assert res.dsp == 256


def test_dsp_limit_rejects():
    res = resources(Tiling(16, 16, 4, 4, 1, 1, 1), 3, 1, Precision.FIXED16, Z020)
    assert "DSP 256 > 220" in over_budget(res, get_device("XC7Z020"), Precision.FIXED16)


def test_fp32_uses_five_dsp_per_lane():
    res = resources(Tiling(8, 8, 4, 4, 1, 1, 1), 3, 1, Precision.FP32, Z020)
    assert res.dsp == 320
    assert over_budget(res, get_device("XC7Z020"), Precision.FP32).startswith("DSP 320")


def test_bram_limit_rejects():
    res = resources(Tiling(16, 16, 32, 32, 1, 1, 1), 7, 2, Precision.FIXED16, Z020)
    device = dataclasses.replace(get_device("XC7VX485T"), bram18k=150)
    assert "BRAM18K 192 > 150" in over_budget(res, device, Precision.FIXED16)


def test_lut_limit_rejects():
    res = resources(Tiling(4, 4, 4, 4, 1, 1, 1), 3, 1, Precision.FIXED16, Z020)
    device = dataclasses.replace(get_device("XC7Z020"), luts=int(res.luts) - 1)
    assert over_budget(res, device, Precision.FIXED16).startswith("LUT")


def test_port_limit_rejects():
    # XC7Z020 has a 64-bit port: four 16-bit words per cycle.
    res = resources(Tiling(4, 4, 4, 4, 2, 2, 1), 3, 1, Precision.FIXED16, Z020)
    assert "memory port words 5 > 4" in over_budget(res, get_device("XC7Z020"), Precision.FIXED16)


def test_a_design_within_every_limit_fits():
    res = resources(Tiling(8, 8, 8, 8, 1, 2, 1), 3, 1, Precision.FIXED16, Z020)
    assert over_budget(res, get_device("XC7Z020"), Precision.FIXED16) == ""


def test_window_layers_use_diagonal_lanes():
    pool = Layer(LayerKind.POOL, 16, 16, 8, 8, 2, 2)
    dw = Layer(LayerKind.DWCONV, 16, 16, 8, 8, 3, 1)
    t = Tiling(8, 4, 8, 8, 4, 4, 4)
    # lanes = min(8, 4) = 4; pool: tI = 4*16*16/4 = 256, tC = 4*64 = 256, tO = 64 -> 256/tile
    assert layer_cycles(pool, t, fill=False) == 4 * 256
    # dw: tI = 4*10*10/4 = 100, tW = 4*9/4 = 9, tC = 9*64 = 576 -> 576 per tile, 4 tiles
    assert layer_cycles(dw, t, fill=False) == 4 * 576


# Hand values of the compute term alone (K^2 Tr' Tc' per tile): the first HAND_CASES conv has
# 2*2*3 output tiles x 1 input tile x 2304; the FC 128 x 2 tiles x 1; a 3 x 3 pool on 8 x 8
# over min(4, 2) = 2 lanes of 6 channels: 3 lane tiles x 9 x (Tr' = 4) x (Tc' = 4), twice
# over the rows; a last, partial tile of rows (R = 10, Tr = 4: 4, 4, 2 rows) costs Tr' = 4.
COMPUTE_CASES = [
    (conv(3, 24, 32, 3), Tiling(8, 3, 16, 16, 1, 1, 2), 2 * 2 * 3 * 2304),
    (Layer(LayerKind.FC, 4096, 10, 1, 1), Tiling(8, 32, 4, 4, 2, 1, 1), 2 * 128),
    (Layer(LayerKind.POOL, 6, 6, 8, 8, 3, 1), Tiling(4, 2, 4, 8, 1, 1, 1), 2 * 3 * 9 * 4 * 8),
    (conv(5, 7, 10, 3), Tiling(4, 2, 4, 10, 1, 1, 1), 3 * 2 * 3 * 9 * 4 * 10),
    (Layer(LayerKind.ADD, 6, 6, 5, 5), Tiling(4, 2, 1, 1, 1, 1, 1), 19),  # ceil(150 / 8)
    (Layer(LayerKind.CONCAT, 6, 6, 5, 5), Tiling(4, 2, 1, 1, 1, 1, 1), 0),
]


@pytest.mark.parametrize(("layer", "tiling", "cycles"), COMPUTE_CASES)
def test_compute_term_matches_hand_computation(layer, tiling, cycles):
    assert compute_cycles(layer, tiling) == cycles


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["conv", "dwconv", "pool", "fc", "add"]).map(LayerKind),
    n=st.integers(1, 40), rows=st.integers(1, 20), k=st.integers(1, 5), s=st.integers(1, 3),
    sizes=st.tuples(*[st.integers(1, 12)] * 4),
)  # fmt: skip
def test_compute_term_is_the_cycles_when_the_ports_are_wide_enough(kind, n, rows, k, s, sizes):
    """With every tile's words in one port cycle only the compute term is left (and the port
    cycle that no layer goes without); it never exceeds the layer's cycles."""
    tm, tn, tr, tc = sizes
    m = n if kind in (LayerKind.DWCONV, LayerKind.POOL, LayerKind.ADD) else n + 3
    layer = (
        Layer(kind, n, m, 1, 1)
        if kind is LayerKind.FC
        else Layer(kind, n, m, rows, rows + 1, k if kind is not LayerKind.ADD else 1, s)
    )
    narrow = Tiling(tm, tn, tr, tc, 1, 1, 1)
    wide = Tiling(tm, tn, tr, tc, 10**9, 10**9, 10**9)
    assert compute_cycles(layer, narrow) <= layer_cycles(layer, narrow, fill=False)
    assert compute_cycles(layer, wide) == layer_cycles(layer, wide, fill=False)
