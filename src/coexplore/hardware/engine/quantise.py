"""An engine net in words: every weight, bias and step parameter quantised, every format fixed.

`quantise(net, bits, fracs)` takes the activation formats a `Calibrator` chose (keyed by site:
INPUT for the network input, (op, position) for `net.format_sites`) and makes a `QuantNet`,
the complete input of the integer arithmetic (`reference.run_integer`, the torch fast path in
`coexplore.slow.engine_torch`, and an exported HLS kernel). Formats of parameters:

- weights, biases, affine scales and shifts, a norm's gain and shift: per array (a layer's
  weights, its biases, ...), `max_frac` of its largest magnitude: no word saturates;
- a bias or shift never finer than the accumulator it joins, so joining it is an exact left
  shift;
- an act's or a scale's table (`functions.build_table`) from the formats around it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from coexplore.errors import InputError
from coexplore.hardware.engine.fixed import RECIPROCAL_BITS, IntArray, max_frac, to_words
from coexplore.hardware.engine.functions import (
    GATED,
    TABLE_OF,
    build_table,
    eps_words,
    gate_frac,
    hard_bound,
    norm_bound,
    norm_frac,
)
from coexplore.hardware.engine.net import (
    INPUT,
    ZEROS,
    Affine,
    EngineNet,
    EngineOp,
    HardSigmoid,
    OpKind,
    Relu,
    Step,
    format_sites,
)


@dataclass(frozen=True, eq=False)
class QAffine:
    """y = requant(x * scale[c] + align(shift[c], shift_frac, x_frac + scale_frac), ...,
    out_frac): the affine step in words."""

    scale: IntArray
    scale_frac: int
    shift: IntArray
    shift_frac: int
    out_frac: int


@dataclass(frozen=True)
class QHardSigmoid:
    """y = relu6(x + 3) / 6 in words of out_frac (`functions.hard_sigmoid`)."""

    out_frac: int


QStep = Relu | QAffine | QHardSigmoid


@dataclass(frozen=True, eq=False)
class QOp:
    """The words and formats of one op; `read_fracs[j]` is the format of input j as read."""

    read_fracs: tuple[int, ...]
    pre: tuple[QStep, ...]
    core_frac: int  # the op's result, before the post steps
    post: tuple[QStep, ...]
    weight: IntArray | None = None
    weight_frac: int = 0
    bias: IntArray | None = None
    bias_frac: int = 0
    table: IntArray | None = None  # act, scale: the function's (or gate's) 2**T words
    table_frac: int = 0  # the format of the table's words
    eps: int = 0  # norm: eps in the units of the variance's sums (`functions.eps_words`)

    @property
    def out_frac(self) -> int:
        return _last_frac(self.post, self.core_frac)

    @property
    def in_frac(self) -> int:
        """The format the core reads (after the pre steps); single-input ops."""
        return _last_frac(self.pre, self.read_fracs[0])


def _last_frac(steps: tuple[QStep, ...], frac: int) -> int:
    for step in steps:
        if isinstance(step, QAffine | QHardSigmoid):
            frac = step.out_frac
    return frac


@dataclass(frozen=True, eq=False)
class QuantNet:
    net: EngineNet
    bits: int
    input_frac: int
    ops: tuple[QOp, ...]

    def frac_of(self, producer: int) -> int:
        """The format of tensor `producer` (an op index, INPUT or ZEROS)."""
        if producer == INPUT:
            return self.input_frac
        if producer == ZEROS:
            return self.bits - 1  # all-zero words: any format; this one is fixed by contract
        return self.ops[producer].out_frac


def quantise(net: EngineNet, bits: int, fracs: dict[object, int]) -> QuantNet:
    """The net in `bits`-bit words with the calibrated activation formats `fracs`."""
    if INPUT not in fracs:
        raise InputError("calibration gave no format for the network input")
    ops: list[QOp] = []
    for index, op in enumerate(net.ops):
        so_far = QuantNet(net, bits, fracs[INPUT], tuple(ops))
        read = tuple(so_far.frac_of(p) for p in op.inputs)
        ops.append(_quantise_op(op, index, read, bits, fracs))
    return QuantNet(net, bits, fracs[INPUT], tuple(ops))


def _quantise_op(
    op: EngineOp, index: int, read: tuple[int, ...], bits: int, fracs: dict[object, int]
) -> QOp:
    starts = {start for start, _ in format_sites(op)}
    observed = {start: fracs.get((index, end)) for start, end in format_sites(op)}
    missing = [start for start in starts if observed[start] is None]
    if missing:
        raise InputError(f"op {op.name}: calibration gave no format at positions {missing}")
    pre, frac = _steps(op.pre, 0, read[0], bits, observed)
    core = len(op.pre)
    weight = bias = None
    weight_frac = bias_frac = 0
    if op.weight is not None:
        weight_frac = max_frac(float(np.abs(op.weight).max()), bits)
        weight = to_words(op.weight, weight_frac, bits)
    if op.bias is not None:
        joined = norm_frac(op.in_shape[0], bits) if op.kind is OpKind.NORM else frac
        bias_frac = min(max_frac(float(np.abs(op.bias).max()), bits), joined + weight_frac)
        bias = to_words(op.bias, bias_frac, bits)
    core_frac = _core_frac(op, read, frac, observed.get(core))
    post, _ = _steps(op.post, core + 1, core_frac, bits, observed)
    q = QOp(read, pre, core_frac, post, weight, weight_frac, bias, bias_frac,
            *_table(op, read, frac, core_frac, bits))  # fmt: skip
    if op.kind is OpKind.NORM:
        q = replace(q, eps=eps_words(op.eps, op.in_shape[0], frac))
    _check_bounds(op, q, bits)
    return q


def _table(
    op: EngineOp, read: tuple[int, ...], frac: int, core_frac: int, bits: int
) -> tuple[IntArray | None, int]:
    """The table an act or scale reads and its words' format: a gate's (SiLU, GELU, a scale's
    gate) in `gate_frac` bits, sigmoid's and tanh's in the op's own output format."""
    function = op.function
    if op.kind not in (OpKind.ACT, OpKind.SCALE) or function not in TABLE_OF:
        return None, 0
    gated = op.kind is OpKind.SCALE or function in GATED
    out_frac = gate_frac(bits) if gated else core_frac
    in_frac = read[1] if op.kind is OpKind.SCALE else frac
    return build_table(TABLE_OF[function], in_frac, out_frac, bits), out_frac


def _check_bounds(op: EngineOp, q: QOp, bits: int) -> None:
    if wide_bound(op, q, bits) >= 2.0**61:
        raise InputError(f"op {op.name}: its formats would let a sum pass 2**61 (int64)")


def wide_bound(op: EngineOp, q: QOp, bits: int) -> float:
    """A bound on every wide value the op makes (accumulators with their aligned bias, aligned
    sums, affine products with their aligned shift): quantise keeps it below 2**61 (int64,
    and `fixed.MAX_SHIFT` exact), the float64 fast path needs it below 2**53."""
    return max(core_bound(op, q, bits), steps_bound(q, bits))


def core_bound(op: EngineOp, q: QOp, bits: int) -> float:
    """The bound of `wide_bound` for the op's core alone."""
    word = 2.0 ** (bits - 1)
    worst = 0.0
    if op.kind in (OpKind.ACT, OpKind.SCALE):
        worst = word * word  # a word times a table word (hard-swish: below)
        if op.function == "hswish":
            worst = hard_bound(q.in_frac, q.core_frac, bits, product=True)
    elif op.kind is OpKind.NORM:
        worst = norm_bound(op.in_shape[0], q.eps, bits)
        z = 2.0 ** (2 * bits - 1)  # the normalised value's wide word, times the gain
        shift_frac = norm_frac(op.in_shape[0], bits) + q.weight_frac - q.bias_frac
        worst = max(worst, z * word + (word * 2.0**shift_frac if q.bias is not None else 0.0))
    elif op.kind is OpKind.ADD:
        worst = len(op.inputs) * word * 2.0 ** (max(q.read_fracs) - min(q.read_fracs))
    elif op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
        worst = 2 * word * 2.0**RECIPROCAL_BITS  # a mean of words times 2**24 (rounded up)
    elif op.kind in (OpKind.CONV, OpKind.FC):
        window = op.kernel * op.kw  # Kh x Kw products per input channel
        terms = op.in_features if op.kind is OpKind.FC else op.in_shape[0] // op.groups * window
        worst = terms * word * word
        if q.bias is not None:
            worst += word * 2.0 ** (q.in_frac + q.weight_frac - q.bias_frac)
    return worst


def steps_bound(q: QOp, bits: int) -> float:
    """The bound of `wide_bound` for the op's steps alone."""
    word = 2.0 ** (bits - 1)
    worst, frac = 0.0, q.read_fracs[0]
    for step in (*q.pre, None, *q.post):
        if isinstance(step, QAffine):
            shifted = word * 2.0 ** (frac + step.scale_frac - step.shift_frac)
            worst = max(worst, word * word + shifted)
            frac = step.out_frac
        elif isinstance(step, QHardSigmoid):
            worst = max(worst, hard_bound(frac, step.out_frac, bits, product=False))
            frac = step.out_frac
        elif step is None:
            frac = q.core_frac
    return worst


def _core_frac(op: EngineOp, read: tuple[int, ...], frac: int, observed: int | None) -> int:
    if op.kind is OpKind.CONCAT:
        return min(read)  # the coarsest input format holds every input without saturating
    if observed is None:  # max pool and upsample move words: the format stays
        return frac
    return observed


def _steps(
    steps: tuple[Step, ...], first: int, frac: int, bits: int, observed: dict[int, int | None]
) -> tuple[tuple[QStep, ...], int]:
    out: list[QStep] = []
    for position, step in enumerate(steps, start=first):
        if isinstance(step, Relu):
            out.append(step)
            continue
        out_frac = observed[position]
        assert out_frac is not None
        if isinstance(step, HardSigmoid):
            out.append(QHardSigmoid(out_frac))
        else:
            out.append(_affine(step, frac, out_frac, bits))
        frac = out_frac
    return tuple(out), frac


def _affine(step: Affine, in_frac: int, out_frac: int, bits: int) -> QAffine:
    scale_frac = max_frac(float(np.abs(step.scale).max()), bits)
    shift_frac = min(max_frac(float(np.abs(step.shift).max()), bits), in_frac + scale_frac)
    scale = to_words(step.scale, scale_frac, bits)
    shift = to_words(step.shift, shift_frac, bits)
    return QAffine(scale, scale_frac, shift, shift_frac, out_frac)
