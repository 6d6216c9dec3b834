"""Hypothesis strategies of small quantised nets and their input words (no torch).

A case is a `QuantNet` of one op under test (after up to two producer ops when the op reads
several tensors) with words drawn to saturate: whole tiles at the word's extremes, and formats
whose shifts are small (frequent rounding ties) or negative (left shifts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from coexplore.hardware.engine.net import INPUT, Affine, EngineNet, EngineOp, OpKind, Relu, Step
from coexplore.hardware.engine.quantise import QAffine, QOp, QStep, QuantNet


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
    if kind in (OpKind.ADD, OpKind.CONCAT):
        return _multi_case(rng, kind, bits, shape, images, input_frac)
    fields = _window_fields(draw, kind, shape)
    op, q = _single_op(rng, kind, bits, shape, input_frac, fields, draw(st.integers(0, 3)),
                       draw(st.integers(0, 3)))  # fmt: skip
    net = EngineNet(shape, (op,))
    return Case(QuantNet(net, bits, input_frac, (q,)), words(rng, (images, *shape), bits))


def _window_fields(draw: st.DrawFn, kind: OpKind, shape: tuple[int, int, int]) -> dict:
    channels, rows, cols = shape
    if kind is OpKind.UPSAMPLE:
        return {"factor": draw(st.integers(1, 3))}
    if kind not in (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL):
        return {}
    kernel = draw(st.integers(1, 5))
    limit = kernel // 2 if kind is not OpKind.CONV else kernel - 1  # torch pools: p <= k / 2
    padding = draw(st.integers(0, limit))
    kernel = min(kernel, min(rows, cols) + 2 * padding)
    padding = min(padding, kernel // 2 if kind is not OpKind.CONV else kernel - 1)
    fields = {"kernel": kernel, "stride": draw(st.integers(1, 3)), "padding": padding}
    if kind is OpKind.CONV:
        groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
        fields["groups"] = groups
        fields["out"] = groups * draw(st.integers(1, 3))
    if kind is OpKind.AVG_POOL:
        fields["count_include_pad"] = draw(st.booleans())
    return fields


def _out_shape(kind: OpKind, shape: tuple[int, int, int], fields: dict) -> tuple[int, int, int]:
    channels, rows, cols = shape
    if kind in (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL):
        k, s, p = fields["kernel"], fields["stride"], fields["padding"]
        out = fields.get("out", channels)
        return (out, (rows + 2 * p - k) // s + 1, (cols + 2 * p - k) // s + 1)
    if kind is OpKind.FC:
        return (fields.get("out", 3), 1, 1)
    if kind is OpKind.GLOBAL_AVG_POOL:
        return (channels, 1, 1)
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
    if kind in (OpKind.CONV, OpKind.FC):
        groups = fields.get("groups", 1)
        wshape = (out_shape[0], shape[0] * shape[1] * shape[2]) if kind is OpKind.FC else (
            out_shape[0], shape[0] // groups, fields["kernel"], fields["kernel"])  # fmt: skip
        weight, weight_frac = words(rng, wshape, bits), int(rng.integers(-2, bits + 3))
        if rng.integers(2):
            bias = words(rng, (out_shape[0],), bits)
            bias_frac = int(rng.integers(in_frac + weight_frac - 8, in_frac + weight_frac + 1))
    core_frac = _core_frac(rng, kind, in_frac, weight_frac)
    post = _steps(rng, post_choice, out_shape[0], bits, core_frac)
    op = EngineOp(
        kind, (INPUT,), shape, out_shape,
        kernel=fields.get("kernel", 1), stride=fields.get("stride", 1),
        padding=fields.get("padding", 0), groups=fields.get("groups", 1),
        weight=None if weight is None else weight.astype(np.float64),
        bias=None if bias is None else bias.astype(np.float64),
        pre=tuple(_float_step(s) for s in pre), post=tuple(_float_step(s) for s in post),
        count_include_pad=fields.get("count_include_pad", False),
    )  # fmt: skip
    return op, QOp((read_frac,), pre, core_frac, post, weight, weight_frac, bias, bias_frac)


def _core_frac(rng: np.random.Generator, kind: OpKind, in_frac: int, weight_frac: int) -> int:
    if kind in (OpKind.MAX_POOL, OpKind.UPSAMPLE):
        return in_frac
    wide = in_frac + weight_frac if kind in (OpKind.CONV, OpKind.FC) else in_frac
    if kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
        wide = in_frac + int(rng.integers(-2, 3))
    return int(wide - rng.choice([-2, 0, 1, 2, 3, 8, 15]))  # small shifts: ties are common


def _float_step(step: QStep) -> Step:
    """The float step an EngineOp carries (its values do not matter to the integer run)."""
    if isinstance(step, QAffine):
        return Affine(step.scale.astype(np.float64), step.shift.astype(np.float64))
    return step


def _multi_case(
    rng: np.random.Generator, kind: OpKind, bits: int, shape: tuple[int, int, int],
    images: int, input_frac: int,
) -> Case:  # fmt: skip
    """Two producers of different formats (an average pool of 1 and a 1x1 conv) and the op."""
    channels, rows, cols = shape
    first, q_first = _single_op(rng, OpKind.AVG_POOL, bits, shape, input_frac,
                                {"kernel": 1, "stride": 1, "padding": 0}, 0, 0)  # fmt: skip
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
