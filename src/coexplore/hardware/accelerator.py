"""The per-FPGA accelerator: one loop-tiled engine (Zhang et al., FPGA'15) per device.

Every formula here works element-wise on numpy arrays as well as on plain ints, so the exact
optimiser evaluates whole tiling grids at once and the reference evaluation of one design uses
the very same code. All times are in clock cycles of the device.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from coexplore.errors import InputError
from coexplore.hardware.devices import Device, Precision, Resources
from coexplore.workload import Layer, LayerKind

BOUNDS = ("compute", "input", "weight", "output")

# A bank this small (in bits) lives in LUT-RAM (64 bits per LUT6) instead of a BRAM18 block.
LUTRAM_MAX_BITS = 1024
LUTRAM_BITS_PER_LUT = 64
# Engine control, address generators and the AXI interface, plus per-lane multiplier and
# adder-tree logic (fp32: the floating-point adder's alignment and normalisation in fabric).
LUT_BASE = 3000
LUT_PER_LANE = {Precision.FIXED8: 12, Precision.FIXED16: 20, Precision.FP32: 350}
# Flip-flops: control and interface, plus per-lane pipeline registers (an fp32 multiply-add
# is some twenty stages deep; Zhang et al. FPGA'15 report 205,704 FFs for 448 fp32 lanes).
FF_BASE = 4000
FF_PER_LANE = {Precision.FIXED8: 24, Precision.FIXED16: 40, Precision.FP32: 450}


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
                raise InputError(f"tiling {name} must be >= 1, got {value}")


def _cdiv(a: Any, b: Any) -> Any:
    """Ceiling division: exact integers for ints; float64 ceil for arrays (exact below 2**50)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.ceil(np.divide(a, b, dtype=np.float64))
    return -(-a // b)


def layer_cycles(layer: Layer, t: Any, fill: bool = True) -> Any:
    """Cycles of one layer under tiling `t` (a Tiling, or a grid of array attributes).

    With `fill`, the layer also waits for its first tile's load (input and weights come in
    parallel on their own port shares) and for its last tile's write-back: the steady-state
    formula overlaps both with computing a neighbouring tile, which a layer's first and last
    tiles do not have. Layers that stream (add, upsample, concat, act, scale, norm) have no
    tile to fill.
    """
    cycles, (_, t_in, t_w, t_out, _) = _terms(layer, t)
    if not fill or layer.kind in _STREAMING:
        return cycles
    return cycles + np.maximum(t_in, t_w) + t_out


_STREAMING = (
    LayerKind.ADD, LayerKind.UPSAMPLE, LayerKind.CONCAT, LayerKind.ACT, LayerKind.SCALE,
    LayerKind.NORM,
)  # fmt: skip


def compute_cycles(layer: Layer, t: Any) -> Any:
    """The compute term alone: cycles the Tm x Tn array spends in its pipelined loop over the
    whole layer, at one trip per cycle. A conv or fc runs Kh Kw Tr' Tc' trips per tile (Tr' =
    min(Tr, R), also for a last, partial tile) for every tile of rows, columns, Tm outputs and
    Tn inputs; depthwise conv and pooling for every tile of min(Tm, Tn) channels; an add, act
    and scale one trip per Tm x Tn words, a norm two passes of them (statistics, then the
    normalised words); concat and upsample none (they only move words). This is what a C
    simulation of the exported engine counts (coexplore.hardware.hls); fill and memory terms
    are not in it."""
    t_comp = _terms(layer, t)[1][0]
    kind = layer.kind
    if kind not in (LayerKind.CONV, LayerKind.FC, LayerKind.DWCONV, LayerKind.POOL):
        return t_comp  # the streaming layers' whole compute term; concat, upsample: zero
    pixels = _cdiv(layer.out_rows, t.tr) * _cdiv(layer.out_cols, t.tc)
    if kind in (LayerKind.CONV, LayerKind.FC):
        channels = _cdiv(layer.out_channels, t.tm) * _cdiv(layer.in_channels, t.tn)
    else:  # one input channel per output channel, min(Tm, Tn) at a time
        channels = _cdiv(layer.out_channels, np.minimum(t.tm, t.tn))
    return pixels * channels * t_comp


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
    if kind is LayerKind.UPSAMPLE:
        read = layer.in_channels * layer.input_rows * layer.input_cols
        return _stream_terms(_cdiv(read, t.ip), zero, _cdiv(layer.output_words, t.op))
    return _element_terms(layer, t)


def _conv_terms(layer: Layer, t: Any) -> tuple[Any, Terms]:
    n, m, r, c = layer.in_channels, layer.out_channels, layer.out_rows, layer.out_cols
    kh, kw, s = layer.kernel, layer.kw, layer.stride
    trp, tcp = np.minimum(t.tr, r), np.minimum(t.tc, c)
    t_in = _cdiv(t.tn * ((trp - 1) * s + kh) * ((tcp - 1) * s + kw), t.ip)  # halo counted
    t_w = _cdiv(t.tm * t.tn * kh * kw, t.wp)
    t_out = _cdiv(t.tm * trp * tcp, t.op)
    t_comp = kh * kw * trp * tcp  # Tm x Tn MACs per cycle
    inner = np.maximum(np.maximum(t_in, t_w), t_comp)  # double buffering overlaps load and compute
    loop = _cdiv(n, t.tn) * inner
    cycles = _cdiv(r, t.tr) * _cdiv(c, t.tc) * _cdiv(m, t.tm) * np.maximum(loop, t_out)
    return cycles, (t_comp, t_in, t_w, t_out, loop)


def _window_terms(layer: Layer, t: Any) -> tuple[Any, Terms]:
    """Depthwise conv and pooling: one input channel per output channel, so only the diagonal
    of the Tm x Tn array is busy; P = min(Tm, Tn) channels are processed per tile."""
    m, r, c, s = layer.out_channels, layer.out_rows, layer.out_cols, layer.stride
    kh, kw = layer.kernel, layer.kw
    lanes = np.minimum(t.tm, t.tn)
    trp, tcp = np.minimum(t.tr, r), np.minimum(t.tc, c)
    t_in = _cdiv(lanes * ((trp - 1) * s + kh) * ((tcp - 1) * s + kw), t.ip)
    has_weights = layer.kind is LayerKind.DWCONV
    t_w = _cdiv(lanes * kh * kw, t.wp) if has_weights else lanes * 0
    t_out = _cdiv(lanes * trp * tcp, t.op)
    t_comp = kh * kw * trp * tcp
    inner = np.maximum(np.maximum(t_in, t_w), t_comp)
    cycles = _cdiv(r, t.tr) * _cdiv(c, t.tc) * _cdiv(m, lanes) * np.maximum(inner, t_out)
    return cycles, (t_comp, t_in, t_w, t_out, inner)


def _element_terms(layer: Layer, t: Any) -> tuple[Any, Terms]:
    """The layers that stream a map through the array's lanes (docs/hardware.md, "Streaming
    layers"): each of the map's words is read, passes Tm x Tn lanes, and is written.
    add: two maps in; act: one map in; scale: one map in, and its M gate values as the
    weights of a per-channel multiply; norm: the map twice (once for each pixel's mean and
    variance over the channels, once to normalise), and its gain and shift as weights."""
    words, lanes, kind = layer.output_words, t.tm * t.tn, layer.kind
    if kind is LayerKind.ADD:
        return _stream_terms(_cdiv(2 * words, t.ip), _cdiv(words, lanes), _cdiv(words, t.op))
    if kind is LayerKind.ACT:
        return _stream_terms(_cdiv(words, t.ip), _cdiv(words, lanes), _cdiv(words, t.op))
    if kind is LayerKind.SCALE:
        gate = _cdiv(layer.out_channels, t.wp)
        return _stream_terms(_cdiv(words, t.ip), _cdiv(words, lanes), _cdiv(words, t.op), gate)
    if kind is LayerKind.NORM:  # two passes over the map, each whole trips of Tm x Tn words
        affine = _cdiv(layer.weight_words, t.wp)
        passes = _cdiv(2 * words, t.ip), 2 * _cdiv(words, lanes), _cdiv(words, t.op)
        return _stream_terms(*passes, affine)
    raise ValueError(f"no hardware model for layer kind {kind}")


def _stream_terms(t_in: Any, t_comp: Any, t_out: Any, t_w: Any = 0) -> tuple[Any, Terms]:
    loop = np.maximum(np.maximum(t_in, t_w), t_comp)
    return np.maximum(loop, t_out), (t_comp, t_in, t_in * 0 + t_w, t_out, loop)


# Block RAM aspect ratios (depth x width) and their cost in BRAM18 units: UG473 (7 series)
# Tables 1-3 and UG573 (UltraScale) Tables 1-1/1-2 list the same ones. Widths 1, 2, 4 have one
# write enable per block; 9, 18, 36, 72 have one per 9-bit byte, whose ninth (parity) bit holds
# data only for words whose width is a multiple of 9. x36 in a BRAM18 and x72 in a BRAM36 are
# simple dual port only, which is how the engine's buffers are used (loader writes, array reads).
BRAM_SHAPES = (
    (16384, 1, 1), (8192, 2, 1), (4096, 4, 1), (2048, 9, 1), (1024, 18, 1), (512, 36, 1),
    (32768, 1, 2), (16384, 2, 2), (8192, 4, 2), (4096, 9, 2), (2048, 18, 2), (1024, 36, 2),
    (512, 72, 2),
)  # fmt: skip
# UltraRAM (UG573, URAM288): one shape, 4K x 72 with 9-bit byte write enables.
URAM_SHAPE = (4096, 72)


def _data_bits(width: int, word_bits: int) -> int:
    """Data bits a block row of `width` holds for words of `word_bits` (parity rule above)."""
    if width % 9 or word_bits % 9 == 0:
        return width
    return width // 9 * 8


def _blocks(banks: Any, depth: Any, word_bits: int, depth_per: int, width: int) -> Any:
    """Blocks of one shape for `banks` banks read at the same address: they share each row."""
    return _cdiv(banks * word_bits, _data_bits(width, word_bits)) * _cdiv(depth, depth_per)


# A BRAM36 shape is a BRAM18 shape twice as deep (or, at x72, twice as wide) at twice the cost,
# so it never costs less than BRAM18 blocks of the half shape: the cheapest shape is always
# among these (a test checks it against the whole table).
_BRAM18_SHAPES = tuple((d, w) for d, w, units in BRAM_SHAPES if units == 1)


def bram18k_for(banks: Any, depth: Any, word_bits: int, shapes: Any = None) -> Any:
    """BRAM18 units for `banks` banks of `depth` words side by side, in the cheapest shape."""
    shapes = shapes or [(d, w, 1) for d, w in _BRAM18_SHAPES]
    costs = [units * _blocks(banks, depth, word_bits, d, w) for d, w, units in shapes]
    return functools.reduce(np.minimum, costs) if _is_array(costs[0]) else min(costs)


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray)


def _where(condition: Any, yes: Any, no: Any) -> Any:
    """np.where for grids; a plain choice for one tiling (many times faster there)."""
    if _is_array(condition):
        return np.where(condition, yes, no)
    return yes if condition else no


def uram_for(banks: Any, depth: Any, word_bits: int) -> Any:
    return _blocks(banks, depth, word_bits, *URAM_SHAPE)


def _buffer(banks: Any, depth: Any, word_bits: int) -> tuple[Any, Any, Any]:
    """(BRAM18, URAM, LUTs) of one double-buffered buffer of `banks` banks of `depth` words.

    A bank of at most LUTRAM_MAX_BITS lives in LUT-RAM; larger banks are read at the same
    address every cycle (the array consumes one word of every bank at once), so they share
    wide block rows, each bank written through its own byte enables.
    """
    small = depth * word_bits <= LUTRAM_MAX_BITS
    bram = _where(small, 0, 2 * bram18k_for(banks, depth, word_bits))
    uram = _where(small, 0, 2 * uram_for(banks, depth, word_bits))
    luts = _where(small, 2 * banks * _cdiv(depth * word_bits, LUTRAM_BITS_PER_LUT), 0)
    return bram, uram, luts


def dsp_slices(tm: Any, tn: Any, precision: Precision, device: Device) -> Any:
    """DSP slices of a Tm x Tn array: packed 8-bit lanes pair up along Tm, where the two
    multiplies share their input pixel (the operand the packing shares)."""
    pack = device.macs_per_dsp(precision)
    return _cdiv(tm, pack) * tn * precision.dsp_per_mac


def resources(
    t: Any, kmax: Any, smax: Any, precision: Precision, device: Device, kmax_cols: Any = None
) -> Any:
    """DSP, BRAM18, URAM, LUTs and FFs of an engine sized for kernels up to kmax rows and
    kmax_cols columns (None: kmax, square) and strides up to smax on `device`.

    Buffers are banked and double-buffered: Tn input banks holding a tile with its halo,
    Tm output banks of Tr x Tc words, Tm x Tn weight banks of kmax x kmax_cols words (each a
    2-D array: rows of a fixed pitch). On a device with UltraRAM the feature-map buffers move
    there only when block RAM alone would not fit: first the input buffer, then the output
    buffer too.
    """
    bits = precision.word_bits
    kcols = kmax if kmax_cols is None else kmax_cols
    in_words = ((t.tr - 1) * smax + kmax) * ((t.tc - 1) * smax + kcols)
    in_b, in_u, in_l = _buffer(t.tn, in_words, bits)
    out_b, out_u, out_l = _buffer(t.tm, t.tr * t.tc, bits)
    w_b, _, w_l = _buffer(t.tm * t.tn, t.tm * 0 + kmax * kcols, bits)
    options = [  # (BRAM18, URAM): all in BRAM; input in URAM; input and output in URAM
        (in_b + out_b + w_b, in_b * 0),
        (out_b + w_b, in_u),
        (w_b, in_u + out_u),
    ]
    bram, uram = options[0]  # also what is reported when no option fits
    for option_bram, option_uram in reversed(options) if device.uram else ():
        use = (option_bram <= device.bram18k) & (option_uram <= device.uram)
        bram, uram = _where(use, option_bram, bram), _where(use, option_uram, uram)
    lanes = t.tm * t.tn
    res = Resources(
        dsp=dsp_slices(t.tm, t.tn, precision, device),
        bram18k=bram,
        luts=LUT_BASE + lanes * LUT_PER_LANE[precision] + in_l + out_l + w_l,
        port_words=t.ip + t.wp + t.op,
        uram=uram,
        ffs=FF_BASE + lanes * FF_PER_LANE[precision],
    )
    return res if _is_array(bram) and bram.ndim else _scalar(res)


def _scalar(res: Resources) -> Resources:
    return Resources(*(int(v) for v in vars(res).values()))


def over_budget(res: Resources, device: Device, precision: Precision) -> str:
    """The first resource over the device's budget, as a reason; '' when it fits."""
    limits = (
        ("DSP", res.dsp, device.dsp),
        ("BRAM18K", res.bram18k, device.bram18k),
        ("URAM", res.uram, device.uram),
        ("LUT", res.luts, device.luts),
        ("FF", res.ffs, device.ffs),
        ("memory port words", res.port_words, device.port_words(precision)),
    )
    for what, used, budget in limits:
        if used > budget:
            return f"{what} {int(used)} > {int(budget)} on {device.name}"
    return ""


def window_limits(layers: tuple[Layer, ...]) -> tuple[int, int, int]:
    """(Kh max, Kw max, Smax) over the layers whose windows size the buffers ((1, 1, 1) when
    there are none): a stage's buffers hold the largest tile of each dimension. A stage of
    1 x 7 and 7 x 1 layers gets 7 x 7 input halos and weight banks, as a 2-D buffer of fixed
    row pitch must (docs/hardware.md)."""
    sized = [layer for layer in layers if layer.uses_window_buffers]
    rows = max((layer.kernel for layer in sized), default=1)
    cols = max((layer.kw for layer in sized), default=1)
    smax = max((layer.stride for layer in sized), default=1)
    return rows, cols, smax


def stage_resources(
    t: Any, layers: tuple[Layer, ...], precision: Precision, device: Device
) -> Resources:
    """`resources` of an engine whose buffers fit every layer of `layers`."""
    rows, cols, smax = window_limits(layers)
    return resources(t, rows, smax, precision, device, cols)
