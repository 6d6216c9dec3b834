"""The per-FPGA accelerator: one loop-tiled engine (Zhang et al., FPGA'15) per device.

Every formula here works element-wise on numpy arrays as well as on plain ints, so the exact
optimiser evaluates whole tiling grids at once and the reference evaluation of one design uses
the very same code. All times are in clock cycles of the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coexplore.hardware.devices import Device, Precision
from coexplore.workload import Layer, LayerKind

BOUNDS = ("compute", "input", "weight", "output")

# A bank this small (in bits) lives in LUT-RAM (64 bits per LUT6) instead of a BRAM18 block.
LUTRAM_MAX_BITS = 1024
BRAM18K_BITS = 18432
LUTRAM_BITS_PER_LUT = 64
# Engine control, address generators and the AXI interface, plus per-lane adder-tree logic.
LUT_BASE = 3000
LUT_PER_LANE = {Precision.FIXED16: 20, Precision.FP32: 350}


@dataclass(frozen=True)
class Tiling:
    """Tile sizes <Tm, Tn, Tr, Tc> and the memory-port split <Ip, Wp, Op> in words/cycle."""

    tm: int
    tn: int
    tr: int
    tc: int
    ip: int
    wp: int
    op: int

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if int(value) < 1:
                raise ValueError(f"tiling {name} must be >= 1, got {value}")


@dataclass(frozen=True)
class Resources:
    dsp: int
    bram18k: int
    luts: int
    port_words: int


def _cdiv(a: Any, b: Any) -> Any:
    """Ceiling division: exact integers for ints; float64 ceil for arrays (exact below 2**50)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.ceil(np.divide(a, b, dtype=np.float64))
    return -(-a // b)


def layer_cycles(layer: Layer, t: Any) -> Any:
    """Cycles of one layer under tiling `t` (a Tiling, or a grid of array attributes)."""
    return _terms(layer, t)[0]


def layer_bound(layer: Layer, t: Tiling) -> str:
    """Which term bounds the layer: 'output' if the write-back outlasts the input loop, else the
    largest of compute / input / weight (ties go to compute, then input)."""
    _, (t_comp, t_in, t_w, t_out, loop) = _terms(layer, t)
    if t_out > loop:
        return "output"
    return BOUNDS[int(np.argmax([t_comp, t_in, t_w]))]


Terms = tuple[Any, Any, Any, Any, Any]  # compute, input, weight, output, input-loop cycles


def _terms(layer: Layer, t: Any) -> tuple[Any, Terms]:
    kind = layer.kind
    if kind in (LayerKind.CONV, LayerKind.FC):
        return _conv_terms(layer, t)
    if kind in (LayerKind.DWCONV, LayerKind.POOL):
        return _window_terms(layer, t)
    zero = t.tm * 0
    if kind is LayerKind.CONCAT:  # channel concatenation is an addressing choice: free
        return zero, (zero, zero, zero, zero, zero)
    words = layer.output_words
    if kind is LayerKind.ADD:
        return _stream_terms(_cdiv(2 * words, t.ip), _cdiv(words, t.tm * t.tn), _cdiv(words, t.op))
    if kind is LayerKind.UPSAMPLE:
        read = layer.in_channels * layer.input_rows * layer.input_cols
        return _stream_terms(_cdiv(read, t.ip), zero, _cdiv(words, t.op))
    raise ValueError(f"no hardware model for layer kind {kind}")


def _conv_terms(layer: Layer, t: Any) -> tuple[Any, Terms]:
    n, m, r, c = layer.in_channels, layer.out_channels, layer.out_rows, layer.out_cols
    k, s = layer.kernel, layer.stride
    trp, tcp = np.minimum(t.tr, r), np.minimum(t.tc, c)
    t_in = _cdiv(t.tn * ((trp - 1) * s + k) * ((tcp - 1) * s + k), t.ip)  # halo counted
    t_w = _cdiv(t.tm * t.tn * k * k, t.wp)
    t_out = _cdiv(t.tm * trp * tcp, t.op)
    t_comp = k * k * trp * tcp  # Tm x Tn MACs per cycle
    inner = np.maximum(np.maximum(t_in, t_w), t_comp)  # double buffering overlaps load and compute
    loop = _cdiv(n, t.tn) * inner
    cycles = _cdiv(r, t.tr) * _cdiv(c, t.tc) * _cdiv(m, t.tm) * np.maximum(loop, t_out)
    return cycles, (t_comp, t_in, t_w, t_out, loop)


def _window_terms(layer: Layer, t: Any) -> tuple[Any, Terms]:
    """Depthwise conv and pooling: one input channel per output channel, so only the diagonal
    of the Tm x Tn array is busy; P = min(Tm, Tn) channels are processed per tile."""
    m, r, c, k, s = layer.out_channels, layer.out_rows, layer.out_cols, layer.kernel, layer.stride
    lanes = np.minimum(t.tm, t.tn)
    trp, tcp = np.minimum(t.tr, r), np.minimum(t.tc, c)
    t_in = _cdiv(lanes * ((trp - 1) * s + k) * ((tcp - 1) * s + k), t.ip)
    has_weights = layer.kind is LayerKind.DWCONV
    t_w = _cdiv(lanes * k * k, t.wp) if has_weights else lanes * 0
    t_out = _cdiv(lanes * trp * tcp, t.op)
    t_comp = k * k * trp * tcp
    inner = np.maximum(np.maximum(t_in, t_w), t_comp)
    cycles = _cdiv(r, t.tr) * _cdiv(c, t.tc) * _cdiv(m, lanes) * np.maximum(inner, t_out)
    return cycles, (t_comp, t_in, t_w, t_out, inner)


def _stream_terms(t_in: Any, t_comp: Any, t_out: Any) -> tuple[Any, Terms]:
    loop = np.maximum(t_in, t_comp)
    return np.maximum(loop, t_out), (t_comp, t_in, t_in * 0, t_out, loop)


def _bank(words: Any, word_bits: int) -> tuple[Any, Any]:
    """(BRAM18 blocks, LUTs) of one bank of `words` words."""
    bits = words * word_bits
    in_lutram = bits <= LUTRAM_MAX_BITS
    bram = np.where(in_lutram, 0, _cdiv(bits, BRAM18K_BITS))
    luts = np.where(in_lutram, _cdiv(bits, LUTRAM_BITS_PER_LUT), 0)
    return bram, luts


def resources(t: Any, kmax: int, smax: int, precision: Precision) -> Resources | Any:
    """DSP, BRAM18 and LUTs of an engine sized for kernels up to kmax and strides up to smax.

    Buffers are banked and double-buffered: Tn input banks holding a tile with its halo,
    Tm output banks of Tr x Tc words, Tm x Tn weight banks of kmax^2 words.
    """
    bits = precision.word_bits
    in_words = ((t.tr - 1) * smax + kmax) * ((t.tc - 1) * smax + kmax)
    in_b, in_l = _bank(in_words, bits)
    out_b, out_l = _bank(t.tr * t.tc, bits)
    w_b, w_l = _bank(t.tm * 0 + kmax * kmax, bits)
    bram = 2 * (t.tn * in_b + t.tm * out_b + t.tm * t.tn * w_b)
    lutram = 2 * (t.tn * in_l + t.tm * out_l + t.tm * t.tn * w_l)
    lanes = t.tm * t.tn
    luts = LUT_BASE + lanes * LUT_PER_LANE[precision] + lutram
    return Resources(
        dsp=lanes * precision.dsp_per_mac,
        bram18k=bram,
        luts=luts,
        port_words=t.ip + t.wp + t.op,
    )


def over_budget(res: Resources, device: Device, precision: Precision) -> str:
    """The first resource over the device's budget, as a reason; '' when it fits."""
    limits = (
        ("DSP", res.dsp, device.dsp),
        ("BRAM18K", res.bram18k, device.bram18k),
        ("LUT", res.luts, device.luts),
        ("memory port words", res.port_words, device.port_words(precision)),
    )
    for what, used, budget in limits:
        if used > budget:
            return f"{what} {int(used)} > {int(budget)} on {device.name}"
    return ""


def window_limits(layers: tuple[Layer, ...]) -> tuple[int, int]:
    """(Kmax, Smax) over the layers whose windows size the buffers (1, 1 when there are none)."""
    sized = [layer for layer in layers if layer.uses_window_buffers]
    kmax = max((layer.kernel for layer in sized), default=1)
    smax = max((layer.stride for layer in sized), default=1)
    return kmax, smax
