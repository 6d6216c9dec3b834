"""The torch fast path of the engine's integer arithmetic equals the numpy reference bit for bit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coexplore.errors import InputError
from coexplore.hardware.devices import Precision
from coexplore.hardware.engine.net import INPUT, Affine, EngineNet, EngineOp, OpKind
from coexplore.hardware.engine.quantise import QAffine, QOp, QuantNet
from coexplore.hardware.engine.reference import input_words, run_float, run_integer, windows
from coexplore.slow import engine_torch
from coexplore.slow.builders import build_model
from coexplore.slow.engine_convert import engine_net
from coexplore.slow.engine_torch import FloatEngine, IntegerEngine
from coexplore.slow.exact_conv import WeightDigits, exact_conv, int8_conv, int8_gemm_exact
from coexplore.slow.precision_accuracy import calibrate
from coexplore.spaces import ChainSpace, ImagenetSpace, Nb201Space, UnetSpace

sys.path.insert(0, str(Path(__file__).parents[1] / "hardware"))  # tests/hardware/engine_cases.py
from engine_cases import Case, single_op_cases

CPU = torch.device("cpu")


@pytest.fixture(params=["int8", "float32"])
def conv_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both convolution paths: int8 matrix products where this CPU has them, and float32."""
    if request.param == "int8" and not int8_gemm_exact(CPU):
        pytest.skip("torch._int_mm does not give exact int32 sums on this CPU")
    if request.param == "float32":
        monkeypatch.setattr(engine_torch, "int8_gemm_exact", lambda device: False)
    return str(request.param)


def fast(case: Case) -> np.ndarray:
    engine = IntegerEngine(case.qnet, CPU)
    return engine(torch.tensor(case.words, dtype=torch.float64)).numpy().astype(np.int64)


# The fixture's patch is meant to hold for every example.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=single_op_cases(max_size=12))
def test_fast_path_equals_numpy_on_every_op(case: Case, conv_path: str) -> None:
    np.testing.assert_array_equal(fast(case), run_integer(case.qnet, case.words))


def numpy_sums(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int) -> np.ndarray:
    """Plain int64 sums of products of a convolution (windows and einsum)."""
    n, m = x.shape[1], w.shape[0]
    rows = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
    cols = (x.shape[3] + 2 * padding - w.shape[2]) // stride + 1
    op = EngineOp(OpKind.CONV, (-1,), x.shape[1:], (m, rows, cols), w.shape[2], stride, padding,
                  groups, weight=w.astype(np.float64))  # fmt: skip
    win = windows(x, op, 0).reshape(len(x), groups, n // groups, rows, cols, *w.shape[2:])
    out = np.einsum("bgnrcij,gmnij->bgmrc", win, w.reshape(groups, m // groups, *w.shape[1:]))
    return out.reshape(len(x), m, rows, cols)


@st.composite
def wide_convs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
    """Convolutions big enough that float32 sums would not be exact: 16-bit extremes, many
    channels, kernels up to 7."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    groups = draw(st.sampled_from([1, 1, 2, 4]))
    n = groups * draw(st.integers(1, 24))
    m = groups * draw(st.integers(1, 6))
    k = draw(st.sampled_from([1, 3, 5, 7]))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, k // 2))
    size = draw(st.integers(k, 10))
    bits = draw(st.sampled_from([8, 16]))
    top = 1 << (bits - 1)
    extremes = draw(st.booleans())
    if extremes:
        x = rng.choice([-top, top - 1], size=(2, n, size, size))
        w = rng.choice([-top, top - 1], size=(m, n // groups, k, k))
    else:
        x = rng.integers(-top, top, size=(2, n, size, size))
        w = rng.integers(-top, top, size=(m, n // groups, k, k))
    return x, w, stride, padding, groups, bits


@settings(max_examples=60, deadline=None)
@given(wide_convs())
def test_exact_conv_gives_every_sum_exactly(conv: tuple) -> None:
    x, w, stride, padding, groups, _ = conv
    expected = numpy_sums(x, w, stride, padding, groups)
    with engine_torch.exact_backends():
        got = exact_conv(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                         stride, padding, groups)  # fmt: skip
    np.testing.assert_array_equal(got.numpy().astype(np.int64), expected)


@settings(max_examples=60, deadline=None)
@given(wide_convs())
def test_int8_conv_gives_every_sum_exactly(conv: tuple) -> None:
    if not int8_gemm_exact(CPU):
        pytest.skip("torch._int_mm does not give exact int32 sums on this CPU")
    x, w, stride, padding, groups, bits = conv
    if groups != 1:
        return  # the int8 path serves full convolutions only
    expected = numpy_sums(x, w, stride, padding, 1)
    digits = WeightDigits.of(w, bits, CPU)
    got = int8_conv(torch.tensor(x, dtype=torch.float64), digits, w.shape[2], stride, padding)
    np.testing.assert_array_equal(got.numpy().astype(np.int64), expected)


SPACE_CASES = [
    (ChainSpace(depth=3, stride_mode="predictable"), (1, 12, 12)),
    (Nb201Space(cells_per_stage=1), (3, 8, 8)),
    (ImagenetSpace(depth=5), (3, 32, 32)),
    (ImagenetSpace(depth=5, se_choices=(True,), activations=("relu", "hswish")), (3, 32, 32)),
    (UnetSpace(levels=3), (1, 16, 16)),
]


@pytest.mark.parametrize(("space", "shape"), SPACE_CASES, ids=lambda c: getattr(c, "name", ""))
@pytest.mark.parametrize("precision", [Precision.FIXED16, Precision.FIXED8])
def test_fast_path_equals_numpy_on_whole_networks(space, shape, precision) -> None:  # type: ignore[no-untyped-def]
    """Every space's network, calibrated on random images: the same words from both paths."""
    rng = np.random.default_rng(7)
    for seed in range(2):
        arch = space.sample(rng)
        model = build_model(space, arch, shape, 4, seed=seed).eval()
        net = engine_net(model, shape)
        images = torch.tensor(rng.normal(size=(6, *shape)), dtype=torch.float32)
        (qnet,) = calibrate(net, images, [precision], CPU)
        engine = IntegerEngine(qnet, CPU)
        got = engine(engine.input_words(images)).numpy().astype(np.int64)
        expected = run_integer(qnet, input_words(qnet, images.double().numpy()))
        np.testing.assert_array_equal(got, expected)


def test_float_engine_matches_the_numpy_float_reference() -> None:
    space, shape = SPACE_CASES[1]
    arch = space.sample(np.random.default_rng(3))
    net = engine_net(build_model(space, arch, shape, 5).eval(), shape)
    images = np.random.default_rng(4).normal(size=(3, *shape))
    seen_torch: dict[object, float] = {}
    seen_numpy: dict[object, float] = {}

    def record(seen: dict[object, float]) -> Callable[[object, np.ndarray], None]:
        return lambda site, values: seen.update({site: float(np.abs(values).max())})

    out = FloatEngine(net, CPU)(torch.tensor(images, dtype=torch.float32), record(seen_torch))
    ref = run_float(net, images, record(seen_numpy))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)
    assert seen_torch.keys() == seen_numpy.keys()
    for site, value in seen_numpy.items():
        assert seen_torch[site] == pytest.approx(value, rel=1e-4, abs=1e-5)


def test_the_fast_path_refuses_sums_it_cannot_hold_exactly() -> None:
    """An affine step whose shift joins 40 bits up: exact in int64, not in float64."""
    words = np.full(2, 3, dtype=np.int64)
    affine = QAffine(words, 0, words, -40, 0)
    op = EngineOp(OpKind.MAX_POOL, (INPUT,), (2, 4, 4), (2, 4, 4),
                  pre=(Affine(np.ones(2), np.ones(2)),))  # fmt: skip
    qnet = QuantNet(EngineNet((2, 4, 4), (op,)), 16, 0, (QOp((0,), (affine,), 0, ()),))
    run_integer(qnet, np.ones((1, 2, 4, 4), dtype=np.int64))  # the reference holds it
    with pytest.raises(InputError, match="2\\*\\*52"):
        IntegerEngine(qnet, CPU)
