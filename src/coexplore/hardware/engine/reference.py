"""The engine net evaluated in numpy: in float64, and in words (the reference arithmetic).

`run_integer` is the definition docs/fixed-point.md writes out and an exported kernel is checked
against bit for bit; it favours plain over fast (int64 einsum over sliding windows). The torch
fast path (`coexplore.slow.engine_torch`) is tested equal to it. `run_float` is the same net in
float64: the float reference the converter is tested against, and what calibration observes
when no torch is at hand. Batches are (images, channels, rows, cols).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from coexplore.hardware.engine.fixed import (
    RECIPROCAL_BITS,
    IntArray,
    align,
    reciprocal,
    requant,
    to_words,
)
from coexplore.hardware.engine.functions import (
    GATED,
    float_function,
    float_hard_sigmoid,
    float_layer_norm,
    hard_sigmoid,
    hard_swish,
    layer_norm,
    lookup,
)
from coexplore.hardware.engine.net import (
    INPUT,
    ZEROS,
    Affine,
    EngineNet,
    EngineOp,
    OpKind,
    Relu,
    Step,
    format_sites,
)
from coexplore.hardware.engine.quantise import QAffine, QHardSigmoid, QOp, QStep, QuantNet

FloatArray = npt.NDArray[np.float64]
Observe = Callable[[object, FloatArray], None]
INT_MIN = np.iinfo(np.int64).min


def run_float(net: EngineNet, images: npt.ArrayLike, observe: Observe | None = None) -> FloatArray:
    """The net's output for float images; `observe(site, values)` sees every tensor whose
    format calibration chooses (INPUT, then (op, position) per `format_sites`)."""
    x = np.asarray(images, dtype=np.float64)
    if observe is not None:
        observe(INPUT, x)

    def evaluate(index: int, op: EngineOp, inputs: list[FloatArray]) -> FloatArray:
        return float_op(index, op, inputs, _float_step, _float_core, observe)

    return traverse(net, x, evaluate, lambda shape: np.zeros(shape))


def float_op(
    index: int,
    op: EngineOp,
    inputs: list[Any],
    step: Callable[[Step, Any], Any],
    core: Callable[[EngineOp, list[Any]], Any],
    observe: Callable[[object, Any], None] | None,
) -> Any:
    """One op in float: pre steps, core, post steps, showing `observe` each format site's
    value (for the numpy and the torch float runners alike)."""
    seen = {end for _, end in format_sites(op)} if observe is not None else set()

    def look(position: int, values: Any) -> Any:
        if position in seen:
            assert observe is not None
            observe((index, position), values)
        return values

    value = inputs[0]
    for position, pre in enumerate(op.pre):
        value = look(position, step(pre, value))
    value = look(len(op.pre), core(op, [value] if op.pre else inputs))
    for position, post in enumerate(op.post, start=len(op.pre) + 1):
        value = look(position, step(post, value))
    return value


def input_words(qnet: QuantNet, images: npt.ArrayLike) -> IntArray:
    """Float images as the input words the engine reads."""
    return to_words(images, qnet.input_frac, qnet.bits)


def run_integer(qnet: QuantNet, words: IntArray) -> IntArray:
    """The net's output words for input words (int64 arrays holding `qnet.bits`-bit words)."""

    def evaluate(index: int, op: EngineOp, inputs: list[IntArray]) -> IntArray:
        q = qnet.ops[index]
        value, frac = inputs[0], q.read_fracs[0]
        for step in q.pre:
            value, frac = _int_step(step, value, frac, qnet.bits)
        value = _int_core(op, q, [value] if op.pre else inputs, qnet.bits)
        frac = q.core_frac
        for step in q.post:
            value, frac = _int_step(step, value, frac, qnet.bits)
        return value

    x = np.asarray(words, dtype=np.int64)
    return traverse(qnet.net, x, evaluate, lambda shape: np.zeros(shape, dtype=np.int64))


def predict(outputs: npt.NDArray[np.generic]) -> npt.NDArray[np.int64]:
    """The class of each image, (images,), or of each pixel, (images, rows, cols), for outputs
    of (images, classes, rows, cols): the index of the largest output, the lowest among equal
    ones (rows = cols = 1 is a classifier's output)."""
    classes = np.argmax(outputs, axis=1)
    return classes.reshape(len(classes)) if classes.shape[1:] == (1, 1) else classes


def traverse(
    net: EngineNet, x: Any, evaluate: Callable[[int, EngineOp, list[Any]], Any],
    zeros: Callable[[tuple[int, ...]], Any],
) -> Any:  # fmt: skip
    """Runs the ops in order on a batch `x` (numpy or torch), dropping each tensor after its
    last reader; an op reading ZEROS gets `zeros((images, *in_shape))`."""
    last_read = {p: i for i, op in enumerate(net.ops) for p in op.inputs}
    tensors: dict[int, Any] = {INPUT: x}
    for index, op in enumerate(net.ops):
        inputs = [zeros((len(x), *op.in_shape)) if p == ZEROS else tensors[p] for p in op.inputs]
        tensors[index] = evaluate(index, op, inputs)
        for p in set(op.inputs):
            if last_read.get(p) == index and p != ZEROS:
                del tensors[p]
    return tensors[len(net.ops) - 1]


def windows(x: np.ndarray, op: EngineOp, fill: float | int) -> np.ndarray:
    """(images, channels, rows, cols, Kh, Kw): the window of every output position, the input
    padded by `op.padding` rows above and below and `op.pw` columns left and right with
    `fill`."""
    ph, pw, s = op.padding, op.pw, op.stride
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return sliding_window_view(padded, (op.kernel, op.kw), axis=(2, 3))[:, :, ::s, ::s]


def pool_divisors(op: EngineOp) -> IntArray:
    """(rows, cols): the divisor of each output of an average pool."""
    if op.kind is OpKind.GLOBAL_AVG_POOL:
        return np.full((1, 1), op.in_shape[1] * op.in_shape[2], dtype=np.int64)
    if op.count_include_pad:
        return np.full(op.out_shape[1:], op.kernel * op.kw, dtype=np.int64)
    ones = np.ones((1, 1, *op.in_shape[1:]), dtype=np.int64)
    return windows(ones, op, 0).sum(axis=(-2, -1))[0, 0]


def _conv(x: np.ndarray, op: EngineOp, weight: np.ndarray) -> np.ndarray:
    """The sum of products of every output (no bias), in x's dtype."""
    g = op.groups
    win = windows(x, op, 0)
    b, n, r, c = win.shape[:4]
    win = win.reshape(b, g, n // g, r, c, op.kernel, op.kw)
    w = weight.reshape(g, -1, *weight.shape[1:])
    out = np.einsum("bgnrcij,gmnij->bgmrc", win, w, optimize=True)
    return out.reshape(b, -1, r, c)


def _float_step(step: Step, x: FloatArray) -> FloatArray:
    if isinstance(step, Relu):
        return np.maximum(x, 0.0)
    if isinstance(step, Affine):
        return x * step.scale[None, :, None, None] + step.shift[None, :, None, None]
    return float_hard_sigmoid(x)


def _float_core(op: EngineOp, inputs: list[FloatArray]) -> FloatArray:
    x = inputs[0]
    if op.kind in (OpKind.CONV, OpKind.FC):
        assert op.weight is not None
        if op.kind is OpKind.FC:
            out = (x.reshape(len(x), -1) @ op.weight.T)[:, :, None, None]
        else:
            out = _conv(x, op, op.weight)
        return out if op.bias is None else out + op.bias[None, :, None, None]
    if op.kind is OpKind.MAX_POOL:
        return windows(x, op, -np.inf).max(axis=(-2, -1))
    if op.kind is OpKind.AVG_POOL:
        return windows(x, op, 0.0).sum(axis=(-2, -1)) / pool_divisors(op)
    if op.kind is OpKind.GLOBAL_AVG_POOL:
        return x.mean(axis=(2, 3), keepdims=True)
    if op.kind is OpKind.ADD:
        return sum(inputs[1:], inputs[0])
    if op.kind is OpKind.ACT:
        return float_function(op.function, x)
    if op.kind is OpKind.SCALE:
        return x * float_function(op.function, inputs[1])
    if op.kind is OpKind.NORM:
        assert op.weight is not None
        return float_layer_norm(x, op.weight, op.bias, op.eps)
    return _move(op, inputs)


def _move(op: EngineOp, inputs: list[np.ndarray]) -> np.ndarray:
    """The ops that only move words: concat and upsample."""
    if op.kind is OpKind.CONCAT:
        return np.concatenate(inputs, axis=1)
    factor = op.upsample_factor
    return np.repeat(np.repeat(inputs[0], factor, axis=2), factor, axis=3)


def _int_step(step: QStep, x: IntArray, frac: int, bits: int) -> tuple[IntArray, int]:
    if isinstance(step, Relu):
        return np.maximum(x, 0), frac
    if isinstance(step, QHardSigmoid):
        return hard_sigmoid(x, frac, step.out_frac, bits), step.out_frac
    assert isinstance(step, QAffine)
    wide = frac + step.scale_frac
    shift = align(step.shift, step.shift_frac, wide)
    total = x * step.scale[None, :, None, None] + shift[None, :, None, None]
    return requant(total, wide, step.out_frac, bits), step.out_frac


def _int_core(op: EngineOp, q: QOp, inputs: list[IntArray], bits: int) -> IntArray:
    x = inputs[0]
    if op.kind in (OpKind.CONV, OpKind.FC):
        assert q.weight is not None
        wide = q.in_frac + q.weight_frac
        if op.kind is OpKind.FC:
            acc = (x.reshape(len(x), -1) @ q.weight.T)[:, :, None, None]
        else:
            acc = _conv(x, op, q.weight)
        if q.bias is not None:
            acc = acc + align(q.bias, q.bias_frac, wide)[None, :, None, None]
        return requant(acc, wide, q.core_frac, bits)
    if op.kind is OpKind.MAX_POOL:
        return windows(x, op, INT_MIN).max(axis=(-2, -1))
    if op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
        sums = x.sum(axis=(2, 3), keepdims=True)
        if op.kind is OpKind.AVG_POOL:
            sums = windows(x, op, 0).sum(axis=(-2, -1))
        acc = sums * reciprocal(pool_divisors(op))
        return requant(acc, q.in_frac + RECIPROCAL_BITS, q.core_frac, bits)
    if op.kind is OpKind.ADD:
        wide = max(q.read_fracs)
        total = sum(align(t, f, wide) for t, f in zip(inputs, q.read_fracs, strict=True))
        return requant(np.asarray(total), wide, q.core_frac, bits)
    if op.kind is OpKind.CONCAT:
        pairs = zip(inputs, q.read_fracs, strict=True)
        parts = [requant(t, f, q.core_frac, bits) for t, f in pairs]
        return _move(op, parts)
    if op.kind in (OpKind.ACT, OpKind.SCALE, OpKind.NORM):
        return _int_streaming(op, q, inputs, bits)
    return _move(op, inputs)  # upsample: words copied


def _int_streaming(op: EngineOp, q: QOp, inputs: list[IntArray], bits: int) -> IntArray:
    """act, scale and norm in words (docs/fixed-point.md; `functions`)."""
    x, fx = inputs[0], q.in_frac
    if op.kind is OpKind.NORM:
        assert q.weight is not None
        return layer_norm(x, fx, q.weight, q.weight_frac, q.bias, q.bias_frac, q.eps,
                          q.core_frac, bits)  # fmt: skip
    if op.function == "hswish":
        return hard_swish(x, fx, q.core_frac, bits)
    if op.kind is OpKind.SCALE:
        gate, gate_frac = inputs[1], q.read_fracs[1]
        if q.table is not None:
            gate, gate_frac = lookup(q.table, gate, bits), q.table_frac
        return requant(x * gate, fx + gate_frac, q.core_frac, bits)
    assert q.table is not None
    if op.function in GATED:  # x times its gate's table word
        return requant(x * lookup(q.table, x, bits), fx + q.table_frac, q.core_frac, bits)
    return requant(lookup(q.table, x, bits), q.table_frac, q.core_frac, bits)
