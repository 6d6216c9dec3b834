"""Hypothesis strategies of small quantised nets and their input words (no torch).

A case is a `QuantNet` of one op under test (after up to two producer ops when the op reads
several tensors) with words drawn to saturate: whole tiles at the word's extremes, and formats
whose shifts are small (frequent rounding ties) or negative (left shifts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from coexplore.hardware.engine.functions import GATED, gate_frac, norm_frac, table_bits
from coexplore.hardware.engine.net import (
    ACT_FUNCTIONS,
    GATE_FUNCTIONS,
    INPUT,
    Affine,
    EngineNet,
    EngineOp,
    HardSigmoid,
    OpKind,
    Relu,
    Step,
)
from coexplore.hardware.engine.quantise import QAffine, QHardSigmoid, QOp, QStep, QuantNet


@dataclass(frozen=True)
class Case:
    qnet: QuantNet
    words: np.ndarray  # (images, channels, rows, cols) int64


def words(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    """Words of the full range, with a tile at one extreme and some small values."""
    top = 1 << (bits - 1)
    out = rng.integers(-top, top, size=shape)
    mode = rng.integers(4)
    if mode == 1 and out.size:  # a tile of the largest magnitude
        flat = out.reshape(-1)
        start = rng.integers(flat.size)
        flat[start : start + max(1, flat.size // 3)] = rng.choice([-top, top - 1])
    elif mode == 2:  # small values: sums that stay small, shifts with ties
        out = rng.integers(-4, 5, size=shape)
    elif mode == 3:  # all at the extremes
        out = rng.choice([-top, top - 1], size=shape)
    return out.astype(np.int64)


def _affine(rng: np.random.Generator, channels: int, bits: int, x_frac: int) -> QAffine:
    scale_frac = int(rng.integers(-2, bits + 2))
    shift_frac = int(rng.integers(x_frac + scale_frac - 6, x_frac + scale_frac + 1))
    out_frac = int(rng.integers(x_frac - 3, x_frac + scale_frac + 3))
    return QAffine(
        words(rng, (channels,), bits), scale_frac, words(rng, (channels,), bits), shift_frac,
        out_frac,
    )  # fmt: skip


def _steps(
    rng: np.random.Generator, choice: int, channels: int, bits: int, frac: int
) -> tuple[QStep, ...]:
    if choice == 0:
        return ()
    if choice == 1:
        return (Relu(),)
    if choice == 4:  # a hard-sigmoid into a format near, coarser or finer than its input's
        return (QHardSigmoid(int(rng.integers(frac - 4, frac + 6))), Relu())
    affine = _affine(rng, channels, bits, frac)
    return (affine, Relu()) if choice == 2 else (Relu(), affine)


@st.composite
def single_op_cases(draw: st.DrawFn, max_size: int = 7) -> Case:
    """One op of any kind (multi-input ops after two producers), with pre and post steps."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    bits = draw(st.sampled_from([8, 16]))
    kind = draw(st.sampled_from(list(OpKind)))
    sizes = st.integers(1, max_size)
    shape = (draw(st.integers(1, 5)), draw(sizes), draw(sizes))
    images = draw(st.integers(1, 3))
    input_frac = draw(st.integers(-3, 14))
    if kind in (OpKind.ADD, OpKind.CONCAT, OpKind.SCALE):
        return _multi_case(rng, kind, bits, shape, images, input_frac)
    fields = _window_fields(draw, kind, shape)
    if kind is OpKind.ACT:
        fields["function"] = draw(st.sampled_from(ACT_FUNCTIONS))
    op, q = _single_op(rng, kind, bits, shape, input_frac, fields, draw(st.integers(0, 4)),
                       draw(st.integers(0, 4)))  # fmt: skip
    net = EngineNet(shape, (op,))
    return Case(QuantNet(net, bits, input_frac, (q,)), words(rng, (images, *shape), bits))


def _window_fields(draw: st.DrawFn, kind: OpKind, shape: tuple[int, int, int]) -> dict:
    channels, rows, cols = shape
    if kind is OpKind.UPSAMPLE:
        return {"factor": draw(st.integers(1, 3))}
    if kind not in (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL):
        return {}
    rectangular = draw(st.booleans())  # Kh x Kw, with padding of its own on the columns
    kernel, padding = _window_side(draw, kind, rows if rectangular else min(rows, cols))
    fields = {"kernel": kernel, "stride": draw(st.integers(1, 3)), "padding": padding}
    if rectangular:
        fields["kernel_cols"], fields["padding_cols"] = _window_side(draw, kind, cols)
    if kind is OpKind.CONV:
        groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
        fields["groups"] = groups
        fields["out"] = groups * draw(st.integers(1, 3))
    if kind is OpKind.AVG_POOL:
        fields["count_include_pad"] = draw(st.booleans())
    return fields


def _window_side(draw: st.DrawFn, kind: OpKind, size: int) -> tuple[int, int]:
    """A kernel extent and its padding along one side of a map of `size`."""
    kernel = draw(st.integers(1, 5))
    limit = kernel // 2 if kind is not OpKind.CONV else kernel - 1  # torch pools: p <= k / 2
    padding = draw(st.integers(0, limit))
    kernel = min(kernel, size + 2 * padding)
    return kernel, min(padding, kernel // 2 if kind is not OpKind.CONV else kernel - 1)


def _out_shape(kind: OpKind, shape: tuple[int, int, int], fields: dict) -> tuple[int, int, int]:
    channels, rows, cols = shape
    if kind in (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL):
        kh, s, ph = fields["kernel"], fields["stride"], fields["padding"]
        kw, pw = fields.get("kernel_cols", kh), fields.get("padding_cols", ph)
        out = fields.get("out", channels)
        return (out, (rows + 2 * ph - kh) // s + 1, (cols + 2 * pw - kw) // s + 1)
    if kind is OpKind.FC:
        return (fields.get("out", 3), 1, 1)
    if kind is OpKind.GLOBAL_AVG_POOL:
        return (channels, 1, 1)
    if kind in (OpKind.ACT, OpKind.NORM):
        return shape
    factor = fields["factor"]
    return (channels, rows * factor, cols * factor)


def _single_op(
    rng: np.random.Generator, kind: OpKind, bits: int, shape: tuple[int, int, int],
    read_frac: int, fields: dict, pre_choice: int, post_choice: int,
) -> tuple[EngineOp, QOp]:  # fmt: skip
    out_shape = _out_shape(kind, shape, fields)
    pre = _steps(rng, pre_choice, shape[0], bits, read_frac)
    in_frac = QOp((read_frac,), pre, 0, ()).in_frac
    weight = bias = None
    weight_frac = bias_frac = 0
    if kind in (OpKind.CONV, OpKind.FC, OpKind.NORM):
        weight, weight_frac = words(rng, _weight_shape(kind, shape, out_shape, fields), bits), int(
            rng.integers(-2, bits + 3))  # fmt: skip
        if rng.integers(2):
            joined = norm_frac(shape[0], bits) if kind is OpKind.NORM else in_frac
            bias = words(rng, (out_shape[0],), bits)
            bias_frac = int(rng.integers(joined + weight_frac - 8, joined + weight_frac + 1))
    core_frac = _core_frac(rng, kind, in_frac, weight_frac)
    post = _steps(rng, post_choice, out_shape[0], bits, core_frac)
    function = fields.get("function", "")
    table, table_frac = _table(rng, function, bits, core_frac)
    op = EngineOp(
        kind, (INPUT,), shape, out_shape,
        kernel=fields.get("kernel", 1), stride=fields.get("stride", 1),
        padding=fields.get("padding", 0), groups=fields.get("groups", 1),
        weight=None if weight is None else weight.astype(np.float64),
        bias=None if bias is None else bias.astype(np.float64),
        pre=tuple(_float_step(s) for s in pre), post=tuple(_float_step(s) for s in post),
        count_include_pad=fields.get("count_include_pad", False),
        kernel_cols=fields.get("kernel_cols", 0), padding_cols=fields.get("padding_cols", -1),
        function=function, eps=1e-5 if kind is OpKind.NORM else 0.0,
    )  # fmt: skip
    eps = int(rng.choice([1, 3, 1 << int(rng.integers(0, 2 * bits))])) if kind is OpKind.NORM else 0
    return op, QOp((read_frac,), pre, core_frac, post, weight, weight_frac, bias, bias_frac,
                   table, table_frac, eps)  # fmt: skip


def _weight_shape(
    kind: OpKind, shape: tuple[int, int, int], out_shape: tuple[int, int, int], fields: dict
) -> tuple[int, ...]:
    if kind is OpKind.NORM:
        return (shape[0],)  # the gain
    if kind is OpKind.FC:
        return (out_shape[0], shape[0] * shape[1] * shape[2])
    kernel = fields["kernel"]
    return (out_shape[0], shape[0] // fields.get("groups", 1), kernel,
            fields.get("kernel_cols", kernel))  # fmt: skip


def _table(
    rng: np.random.Generator, function: str, bits: int, core_frac: int, gate: bool = False
) -> tuple[np.ndarray | None, int]:
    """Random words for a function's table (any words: the arithmetic only looks them up), in
    the gate format for SiLU, GELU and a scale's gate, else in the op's output format."""
    if function in ("", "hswish"):
        return None, 0
    table = words(rng, (1 << table_bits(bits),), bits)
    return table, gate_frac(bits) if gate or function in GATED else core_frac


def _core_frac(rng: np.random.Generator, kind: OpKind, in_frac: int, weight_frac: int) -> int:
    if kind in (OpKind.MAX_POOL, OpKind.UPSAMPLE):
        return in_frac
    wide = in_frac + weight_frac if kind in (OpKind.CONV, OpKind.FC) else in_frac
    if kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL, OpKind.ACT, OpKind.NORM):
        wide = in_frac + int(rng.integers(-2, 3))
    return int(wide - rng.choice([-2, 0, 1, 2, 3, 8, 15]))  # small shifts: ties are common


def _float_step(step: QStep) -> Step:
    """The float step an EngineOp carries (its values do not matter to the integer run)."""
    if isinstance(step, QAffine):
        return Affine(step.scale.astype(np.float64), step.shift.astype(np.float64))
    if isinstance(step, QHardSigmoid):
        return HardSigmoid()
    return step


def _multi_case(
    rng: np.random.Generator, kind: OpKind, bits: int, shape: tuple[int, int, int],
    images: int, input_frac: int,
) -> Case:  # fmt: skip
    """Two producers of different formats (an average pool of 1 and a 1x1 conv) and the op;
    a scale's gate is a global average pool instead of the conv."""
    channels, rows, cols = shape
    first, q_first = _single_op(rng, OpKind.AVG_POOL, bits, shape, input_frac,
                                {"kernel": 1, "stride": 1, "padding": 0}, 0, 0)  # fmt: skip
    if kind is OpKind.SCALE:
        return _scale_case(rng, bits, shape, images, input_frac, (first, q_first))
    out = channels if kind is OpKind.ADD else int(rng.integers(1, 4))
    second, q_second = _single_op(rng, OpKind.CONV, bits, shape, input_frac,
                                  {"kernel": 1, "stride": 1, "padding": 0, "groups": 1,
                                   "out": out}, 0, int(rng.integers(0, 3)))  # fmt: skip
    fracs = (q_first.out_frac, q_second.out_frac)
    in_shape = (channels + out if kind is OpKind.CONCAT else channels, rows, cols)
    core = min(fracs) if kind is OpKind.CONCAT else max(fracs) - int(rng.integers(-2, 4))
    post_choice = int(rng.integers(0, 4))
    post = _steps(rng, post_choice, in_shape[0], bits, core)
    op = EngineOp(kind, (0, 1), in_shape, in_shape,
                  post=tuple(_float_step(s) for s in post))  # fmt: skip
    q = QOp(fracs, (), core, post)
    net = EngineNet(shape, (first, second, op))
    qnet = QuantNet(net, bits, input_frac, (q_first, q_second, q))
    return Case(qnet, words(rng, (images, *shape), bits))


def _scale_case(
    rng: np.random.Generator, bits: int, shape: tuple[int, int, int], images: int,
    input_frac: int, first: tuple[EngineOp, QOp],
) -> Case:  # fmt: skip
    """A map (an average pool of 1) times a gate (a global average pool, with steps)."""
    gate, q_gate = _single_op(rng, OpKind.GLOBAL_AVG_POOL, bits, shape, input_frac, {}, 0,
                              int(rng.integers(0, 5)))  # fmt: skip
    function = str(rng.choice(GATE_FUNCTIONS))
    fracs = (first[1].out_frac, q_gate.out_frac)
    core = fracs[0] + int(rng.integers(-3, bits))
    post = _steps(rng, int(rng.integers(0, 5)), shape[0], bits, core)
    op = EngineOp(OpKind.SCALE, (0, 1), shape, shape, post=tuple(_float_step(s) for s in post),
                  function=function)  # fmt: skip
    table, table_frac = _table(rng, function, bits, core, gate=True)
    q = QOp(fracs, (), core, post, table=table, table_frac=table_frac)
    net = EngineNet(shape, (first[0], gate, op))
    qnet = QuantNet(net, bits, input_frac, (first[1], q_gate, q))
    return Case(qnet, words(rng, (images, *shape), bits))
