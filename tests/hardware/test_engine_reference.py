"""The numpy reference (`run_integer`) against plain loops over Python integers, op by op, and
the engine net's checks and workload (no torch)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from engine_cases import Case, single_op_cases
from hypothesis import given, settings

from coexplore.errors import InputError
from coexplore.hardware.engine.functions import GATED, norm_frac, table_bits
from coexplore.hardware.engine.net import (
    INPUT,
    ZEROS,
    Affine,
    EngineNet,
    EngineOp,
    OpKind,
    Relu,
    format_sites,
)
from coexplore.hardware.engine.quantise import (
    QAffine,
    QHardSigmoid,
    QOp,
    QuantNet,
    core_bound,
    quantise,
)
from coexplore.hardware.engine.reference import predict, run_float, run_integer
from coexplore.workload import LayerKind

# -- a second, plain implementation of docs/fixed-point.md ----------------------------------


def sat(v: int, bits: int) -> int:
    return min(max(v, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)


def requant(v: int, f: int, g: int, bits: int) -> int:
    if f >= g:
        s = f - g
        return sat((v + (1 << (s - 1))) // (1 << s) if s else v, bits)
    return sat(sat(v, bits) * (1 << (g - f)), bits)


def half_up(value: Fraction, bits: int) -> int:
    return sat(math.floor(value + Fraction(1, 2)), bits)


def hard(x: int, fx: int, fy: int, bits: int, product: bool) -> int:
    """relu6(x + 3) / 6, or x times it, of a word of fx as a word of fy, in rationals."""
    value = Fraction(x) / 2**fx if fx >= 0 else Fraction(x * 2**-fx)
    gate = min(max(value + 3, Fraction(0)), Fraction(6)) / 6
    return half_up((value * gate if product else gate) * Fraction(2) ** fy, bits)


def step(s: object, x: np.ndarray, frac: int, bits: int) -> tuple[np.ndarray, int]:
    if isinstance(s, Relu):
        return np.vectorize(lambda v: max(int(v), 0), otypes=[object])(x), frac
    if isinstance(s, QHardSigmoid):
        fy = s.out_frac
        return np.vectorize(lambda v: hard(int(v), frac, fy, bits, False), otypes=[object])(x), fy
    assert isinstance(s, QAffine)
    wide = frac + s.scale_frac
    out = np.empty(x.shape, dtype=object)
    for b, c, r, col in itertools.product(*map(range, x.shape)):
        shift = int(s.shift[c]) * (1 << (wide - s.shift_frac))
        out[b, c, r, col] = requant(int(x[b, c, r, col]) * int(s.scale[c]) + shift, wide,
                                    s.out_frac, bits)  # fmt: skip
    return out, s.out_frac


def window(op: EngineOp, r: int, c: int) -> list[tuple[int, int]]:
    """The (row, col) positions of an output's window that lie inside the input."""
    rows, cols = op.in_shape[1:]
    top, left = r * op.stride - op.padding, c * op.stride - op.pw
    return [(i, j) for i in range(top, top + op.kernel) for j in range(left, left + op.kw)
            if 0 <= i < rows and 0 <= j < cols]  # fmt: skip


def core(op: EngineOp, q: QOp, xs: list[np.ndarray], fx: int, bits: int) -> np.ndarray:
    x = xs[0]
    images = len(x)
    m, rows, cols = op.out_shape
    out = np.empty((images, m, rows, cols), dtype=object)
    for b, i, r, c in itertools.product(range(images), range(m), range(rows), range(cols)):
        out[b, i, r, c] = point(op, q, xs, fx, bits, (b, i, r, c))
    return out


def point(op: EngineOp, q: QOp, xs: list[np.ndarray], fx: int, bits: int, at: tuple) -> int:
    b, i, r, c = at
    x = xs[0]
    if op.kind in (OpKind.ACT, OpKind.SCALE, OpKind.NORM):
        return streaming(op, q, xs, fx, bits, at)
    if op.kind is OpKind.CONV:
        per_group = op.in_shape[0] // op.groups
        group = i // (op.out_shape[0] // op.groups)
        top, left = r * op.stride - op.padding, c * op.stride - op.pw
        acc = sum(int(q.weight[i, n, a - top, e - left]) * int(x[b, group * per_group + n, a, e])
                  for n in range(per_group) for a, e in window(op, r, c))  # fmt: skip
        return _biased(acc, q, i, fx, bits)
    if op.kind is OpKind.FC:
        flat = x[b].reshape(-1)
        acc = sum(int(q.weight[i, n]) * int(flat[n]) for n in range(len(flat)))
        return _biased(acc, q, i, fx, bits)
    if op.kind is OpKind.MAX_POOL:
        return max(int(x[b, i, a, e]) for a, e in window(op, r, c))
    if op.kind in (OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL):
        if op.kind is OpKind.GLOBAL_AVG_POOL:
            cells = list(itertools.product(range(op.in_shape[1]), range(op.in_shape[2])))
            n = len(cells)
        else:
            cells = window(op, r, c)
            n = op.kernel * op.kw if op.count_include_pad else len(cells)
        recip = ((1 << 25) + n) // (2 * n)
        total = sum(int(x[b, i, a, e]) for a, e in cells)
        return requant(total * recip, fx + 24, q.core_frac, bits)
    if op.kind is OpKind.ADD:
        wide = max(q.read_fracs)
        acc = sum(int(t[b, i, r, c]) << (wide - f) for t, f in zip(xs, q.read_fracs, strict=True))
        return requant(acc, wide, q.core_frac, bits)
    if op.kind is OpKind.CONCAT:
        for t, f in zip(xs, q.read_fracs, strict=True):
            if i < t.shape[1]:
                return requant(int(t[b, i, r, c]), f, q.core_frac, bits)
            i -= t.shape[1]
    k = op.upsample_factor
    return int(x[b, i, r // k, c // k])


def entry(q: QOp, word: int, bits: int) -> int:
    """The table word of an input word: its top T bits, counted from the lowest."""
    t = table_bits(bits)
    assert q.table is not None
    return int(q.table[(word >> (bits - t)) + (1 << (t - 1))])


def streaming(op: EngineOp, q: QOp, xs: list[np.ndarray], fx: int, bits: int, at: tuple) -> int:
    b, i, r, c = at
    x = int(xs[0][b, i, r, c])
    if op.kind is OpKind.NORM:
        return norm(q, [int(v) for v in xs[0][b, :, r, c]], i, fx, bits)
    if op.function == "hswish":
        return hard(x, fx, q.core_frac, bits, True)
    if op.kind is OpKind.SCALE:
        gate, g_frac = int(xs[1][b, i, 0, 0]), q.read_fracs[1]
        if q.table is not None:
            gate, g_frac = entry(q, gate, bits), q.table_frac
        return requant(x * gate, fx + g_frac, q.core_frac, bits)
    if op.function in GATED:
        return requant(x * entry(q, x, bits), fx + q.table_frac, q.core_frac, bits)
    return requant(entry(q, x, bits), q.table_frac, q.core_frac, bits)


def norm(q: QOp, pixel: list[int], i: int, fx: int, bits: int) -> int:
    """LayerNorm of channel i of one pixel, in Python integers (docs/fixed-point.md)."""
    count = len(pixel)
    s1, s2 = sum(pixel), sum(v * v for v in pixel)
    v = count * s2 - s1 * s1 + q.eps
    e = -((30 - v.bit_length()) // 2)
    m = v >> (2 * e) if e >= 0 else v << (-2 * e)
    rsqrt = math.isqrt((1 << 62) // m)
    z_frac = norm_frac(count, bits)
    z = (count * pixel[i] - s1) * rsqrt
    shift = 31 + e - z_frac
    z = (z + (1 << (shift - 1))) >> shift if shift > 0 else z << -shift
    assert q.weight is not None
    wide = z_frac + q.weight_frac
    t = z * int(q.weight[i])
    if q.bias is not None:
        t += int(q.bias[i]) << (wide - q.bias_frac)
    return requant(t, wide, q.core_frac, bits)


def _biased(acc: int, q: QOp, i: int, fx: int, bits: int) -> int:
    wide = fx + q.weight_frac
    if q.bias is not None:
        acc += int(q.bias[i]) << (wide - q.bias_frac)
    return requant(acc, wide, q.core_frac, bits)


def brute_force(qnet: QuantNet, words: np.ndarray) -> np.ndarray:
    tensors = {INPUT: words.astype(object)}
    for index, (op, q) in enumerate(zip(qnet.net.ops, qnet.ops, strict=True)):
        xs = [tensors[p] for p in op.inputs]
        frac = q.read_fracs[0]
        for s in q.pre:
            xs[0], frac = step(s, xs[0], frac, qnet.bits)
        value = core(op, q, xs, frac, qnet.bits)
        frac = q.core_frac
        for s in q.post:
            value, frac = step(s, value, frac, qnet.bits)
        tensors[index] = value
    return tensors[len(qnet.ops) - 1]


@settings(max_examples=150, deadline=None)
@given(single_op_cases(max_size=5))
def test_run_integer_equals_plain_loops(case: Case) -> None:
    expected = brute_force(case.qnet, case.words).astype(np.int64)
    np.testing.assert_array_equal(run_integer(case.qnet, case.words), expected)


# -- the engine net: checks, workload, format sites --------------------------------------


def conv(inputs: tuple[int, ...] = (INPUT,), **fields: object) -> EngineOp:
    base = dict(kind=OpKind.CONV, inputs=inputs, in_shape=(2, 5, 5), out_shape=(4, 5, 5),
                kernel=3, padding=1, weight=np.zeros((4, 2, 3, 3)))  # fmt: skip
    base.update(fields)
    return EngineOp(**base)  # type: ignore[arg-type]


def test_an_op_with_a_wrong_output_shape_or_weight_is_refused() -> None:
    with pytest.raises(InputError, match="output"):
        conv(out_shape=(4, 4, 4))
    with pytest.raises(InputError, match="weight shape"):
        conv(weight=np.zeros((4, 2, 1, 1)))
    with pytest.raises(InputError, match="affine"):
        conv(post=(Affine(np.ones(3), np.zeros(3)),))
    with pytest.raises(InputError, match="no weights"):
        EngineOp(OpKind.MAX_POOL, (INPUT,), (2, 4, 4), (2, 2, 2), 2, 2, weight=np.zeros(1))


def test_a_net_reading_a_later_op_or_a_wrong_shape_is_refused() -> None:
    with pytest.raises(InputError, match="earlier op"):
        EngineNet((2, 5, 5), (conv(inputs=(0,)),))
    with pytest.raises(InputError, match="reads"):
        EngineNet((3, 5, 5), (conv(),))


def test_workload_layers_and_skips() -> None:
    depthwise = EngineOp(OpKind.CONV, (0,), (4, 5, 5), (4, 3, 3), 3, 2, 1, groups=4,
                         weight=np.zeros((4, 1, 3, 3)))  # fmt: skip
    gap = EngineOp(OpKind.GLOBAL_AVG_POOL, (1,), (4, 3, 3), (4, 1, 1))
    add = EngineOp(OpKind.ADD, (2, ZEROS), (4, 1, 1), (4, 1, 1))
    fc = EngineOp(OpKind.FC, (0,), (4, 5, 5), (10, 1, 1), weight=np.zeros((10, 100)))
    workload = EngineNet((2, 5, 5), (conv(), depthwise, gap, add, fc)).workload()
    kinds = [layer.kind for layer in workload.layers]
    assert kinds == [LayerKind.CONV, LayerKind.DWCONV, LayerKind.POOL, LayerKind.ADD, LayerKind.FC]
    assert workload.layers[1].shape_key() == ("dwconv", 4, 4, 3, 3, 3, 2, 5, 5, 3)
    assert workload.layers[2].shape_key() == ("pool", 4, 4, 1, 1, 3, 3, 3, 3, 3)
    assert workload.layers[4].in_channels == 100
    assert workload.skips == ((0, 4),)  # ZEROS and the previous op are no skips


def test_a_grouped_conv_has_no_workload_layer() -> None:
    grouped = conv(in_shape=(4, 5, 5), groups=2, weight=np.zeros((4, 2, 3, 3)))
    with pytest.raises(InputError, match="groups"):
        EngineNet((4, 5, 5), (grouped,)).workload()


def test_format_sites() -> None:
    affine = Affine(np.ones(4), np.zeros(4))
    assert format_sites(conv(post=(Relu(), affine))) == ((0, 1), (2, 2))
    head = EngineOp(OpKind.GLOBAL_AVG_POOL, (INPUT,), (4, 3, 3), (4, 1, 1), pre=(affine, Relu()))
    assert format_sites(head) == ((0, 1), (2, 2))
    pool = EngineOp(OpKind.MAX_POOL, (INPUT,), (4, 4, 4), (4, 2, 2), 2, 2, post=(Relu(),))
    assert format_sites(pool) == ()


def test_zeros_input_and_predict_ties() -> None:
    """A conv of the all-zero tensor writes its bias; equal logits go to the lowest index."""
    op = conv(inputs=(ZEROS,), bias=np.array([1.0, -1.0, 0.5, 2.0]))
    net = EngineNet((2, 5, 5), (op,))
    assert np.allclose(run_float(net, np.ones((1, 2, 5, 5)))[0, :, 2, 2], [1, -1, 0.5, 2])
    assert predict(np.array([[[[3]], [[5]], [[5]]]])).tolist() == [1]


def test_quantise_refuses_formats_whose_sums_leave_int64() -> None:
    """Tiny weights on a finely formatted input make a fine accumulator; a huge bias joined to
    it would need a shift past int64."""
    op = conv(weight=np.full((4, 2, 3, 3), 1e-12), bias=np.full(4, 1e6))
    net = EngineNet((2, 5, 5), (op,))
    with pytest.raises(InputError, match="2\\*\\*61"):
        quantise(net, 16, {INPUT: 32, (0, 0): 0})
    assert quantise(net, 16, {INPUT: 0, (0, 0): 0}).ops[0].bias is not None


def test_a_conv_sums_bound_counts_every_product_of_its_kh_x_kw_window() -> None:
    """A 1 x 7 conv sums 7 products per input channel, as many as a 7 x 1 conv: the bound that
    keeps the float64 fast path exact counts Kh x Kw, not Kh squared."""
    wide, tall = (
        conv(
            kernel=h,
            kernel_cols=w,
            padding=h // 2,
            padding_cols=w // 2,
            weight=np.ones((4, 2, h, w)),
        )
        for h, w in ((1, 7), (7, 1))
    )
    net = EngineNet((2, 5, 5), (wide, tall))
    qnet = quantise(net, 8, {INPUT: 4, (0, 0): 4, (1, 0): 4})
    bounds = [core_bound(op, q, 8) for op, q in zip(net.ops, qnet.ops, strict=True)]
    assert bounds[0] == bounds[1] >= 2 * 7 * 2.0**7 * 2.0**7
