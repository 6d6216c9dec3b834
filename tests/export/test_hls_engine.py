"""The exported HLS engine, compiled with g++: bit for bit the reference arithmetic on every
layer kind, uneven tiles, stride 2, saturating words and rounding ties, and as many
compute-loop trips per layer as the cycle model's compute term. Each engine is compiled once
and run on several sets of words (inputs and parameters)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from coexplore.errors import InputError
from coexplore.hardware.accelerator import Tiling, compute_cycles
from coexplore.hardware.devices import parse_pool
from coexplore.hardware.engine.net import INPUT, EngineNet, EngineOp, OpKind, Relu
from coexplore.hardware.engine.quantise import QOp, QuantNet
from coexplore.hardware.engine.reference import input_words
from coexplore.hardware.hls import CsimResult, build, check, load_engine, simulate, write_hls

sys.path.insert(0, str(Path(__file__).parents[1] / "hardware"))  # tests/hardware/engine_cases.py
from engine_cases import Case, single_op_cases
from hls_helpers import (
    EVERY_KIND_STAGES,
    STREAMING_STAGES,
    calibrated,
    design_of,
    every_kind_net,
    export,
    need_compiler,
    reweight,
    streaming_net,
    words,
)


def assert_exact(result: CsimResult) -> None:
    assert result.differing == 0, f"{result.differing_words} words differ"
    assert result.counted == result.modelled
    assert not result.trips_vary


@pytest.mark.parametrize("bits", [8, 16])
def test_every_layer_kind_over_three_fpgas_equals_the_reference(tmp_path: Path, bits: int) -> None:
    need_compiler()
    rng = np.random.default_rng(bits)
    net = every_kind_net(rng)
    images = rng.normal(0, 1, (16, *net.input_shape))
    qnet = calibrated(net, bits, images)
    exported = export(tmp_path, qnet, EVERY_KIND_STAGES)
    assert [p.receives for p in exported.plans][1] == ((0, 0), (1, 0), (4, 0))  # skips cross
    calibrated_run = check(tmp_path, input_words(qnet, images[:4]))
    assert_exact(calibrated_run)
    layers = net.workload().layers
    for plan in exported.plans:  # the model's own numbers, layer by layer
        for offset, modelled in enumerate(plan.modelled):
            layer = layers[plan.stage.first_layer + offset]
            assert modelled == compute_cycles(layer, plan.tiling)
    saturating = check(tmp_path, words(rng, (6, *net.input_shape), bits), built=True)
    assert_exact(saturating)
    reweight(tmp_path, rng)
    assert_exact(check(tmp_path, words(rng, (6, *net.input_shape), bits), built=True))
    outputs, _, _ = simulate(
        tmp_path, load_engine(tmp_path), words(rng, (4, *net.input_shape), bits)
    )
    top = (1 << (bits - 1)) - 1
    every = np.concatenate([o.reshape(-1) for o in outputs.values()])
    assert (every == top).any() and (every == -top - 1).any()  # saturation was exercised


@pytest.mark.parametrize("bits", [8, 16])
def test_act_scale_norm_and_rectangular_windows_equal_the_reference(
    tmp_path: Path, bits: int
) -> None:
    """Every function, gate and norm, hard-sigmoid steps and Kh x Kw windows over three FPGAs:
    calibrated words, saturating words, and random parameter words (tables included)."""
    need_compiler()
    rng = np.random.default_rng(10 + bits)
    net = streaming_net(rng)
    images = rng.normal(0, 1, (16, *net.input_shape))
    qnet = calibrated(net, bits, images)
    exported = export(tmp_path, qnet, STREAMING_STAGES)
    assert_exact(check(tmp_path, input_words(qnet, images[:4])))
    layers = net.workload().layers
    # the buffers of a 1 x 5 and a 3 x 1 conv: 3 x 5 (pools and streaming layers size none)
    assert [(p.kmax, p.kmax_cols) for p in exported.plans] == [(3, 5), (1, 1), (1, 1)]
    for plan in exported.plans:
        for offset, modelled in enumerate(plan.modelled):
            layer = layers[plan.stage.first_layer + offset]
            assert modelled == compute_cycles(layer, plan.tiling)
    assert_exact(check(tmp_path, words(rng, (6, *net.input_shape), bits), built=True))
    for _ in range(2):
        reweight(tmp_path, rng)
        assert_exact(check(tmp_path, words(rng, (4, *net.input_shape), bits), built=True))


def test_the_engine_is_clean_under_address_and_undefined_behaviour_sanitizers(
    tmp_path: Path,
) -> None:
    need_compiler()
    rng = np.random.default_rng(3)
    net = every_kind_net(rng)
    qnet = calibrated(net, 16, rng.normal(0, 1, (8, *net.input_shape)))
    export(tmp_path, qnet, EVERY_KIND_STAGES)
    streaming = tmp_path / "streaming"
    export(streaming, calibrated(streaming_net(rng), 16, rng.normal(0, 1, (8, 3, 10, 12))),
           STREAMING_STAGES)  # fmt: skip
    sanitizers = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")
    try:
        build(tmp_path, extra_flags=sanitizers)
    except Exception as error:  # a compiler without the sanitizer runtimes
        pytest.skip(f"g++ cannot build with sanitizers here: {error}")
    assert_exact(check(tmp_path, words(rng, (3, *net.input_shape), 16), built=True))
    build(streaming, extra_flags=sanitizers)
    assert_exact(check(streaming, words(rng, (3, 3, 10, 12), 16), built=True))


def identity_conv(
    read: int, shape: tuple[int, int, int], in_frac: int, core: int
) -> tuple[EngineOp, QOp]:
    """A 1 x 1 conv of weight word 1 (format 0): the result is requant(x, in_frac, core)."""
    channels = shape[0]
    weight = np.eye(channels).reshape(channels, channels, 1, 1)
    op = EngineOp(OpKind.CONV, (read,), shape, shape, weight=weight)
    return op, QOp((in_frac,), (), core, (), weight.astype(np.int64), 0)


@pytest.mark.parametrize("bits", [8, 16])
def test_rounding_ties_go_up_and_words_saturate(tmp_path: Path, bits: int) -> None:
    """Against plain integer formulas (not the reference): a right shift by one rounds every
    odd word half up, floor((x + 1) / 2), negative ones included; a left shift by 3 saturates."""
    need_compiler()
    top = 1 << (bits - 1)
    every = (
        np.arange(-top, top) if bits == 8 else np.r_[-top : -top + 200, -300:300, top - 200 : top]
    )
    side = int(np.ceil(np.sqrt(every.size)))
    x = np.resize(every, side * side).reshape(1, 1, side, side)
    shape = (1, side, side)
    halve, q_halve = identity_conv(INPUT, shape, 5, 4)
    scale, q_scale = identity_conv(INPUT, shape, 5, 8)
    concat = EngineOp(OpKind.CONCAT, (0, 1), (2, side, side), (2, side, side))
    net = EngineNet(shape, (halve, scale, concat))
    qnet = QuantNet(net, bits, 5, (q_halve, q_scale, QOp((4, 8), (), 4, ())))
    t = Tiling(1, 1, 3, 5, 1, 1, 1)
    export(tmp_path, qnet, [(0, 0, t), (1, 1, t), (2, 2, t)])
    build(tmp_path)
    outputs, _, _ = simulate(tmp_path, load_engine(tmp_path), x)
    assert np.array_equal(outputs[(0, 0)], (x + 1) // 2)
    assert np.array_equal(outputs[(1, 1)], np.clip(x * 8, -top, top - 1))
    assert_exact(check(tmp_path, x, built=True))


@st.composite
def tilings(draw: st.DrawFn) -> Tiling:
    lanes, rows, ports = st.integers(1, 6), st.integers(1, 5), st.integers(1, 3)
    return Tiling(*(draw(lanes) for _ in "mn"), *(draw(rows) for _ in "rc"),
                  *(draw(ports) for _ in "iwo"))  # fmt: skip


def engine_runs(case: Case) -> bool:
    """The engine runs full and depthwise convolutions only (grouped ones are refused)."""
    for op in case.qnet.net.ops:
        if op.kind is OpKind.CONV and op.groups not in (1, op.in_shape[0]):
            return False
        if op.kind is OpKind.CONV and op.groups > 1 and op.out_shape[0] != op.groups:
            return False
    return True


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=single_op_cases(), tiling=tilings(), cut=st.integers(0, 1), seed=st.integers(0, 99))
def test_any_op_under_any_tiling_equals_the_reference(
    tmp_path_factory: pytest.TempPathFactory, case: Case, tiling: Tiling, cut: int, seed: int
) -> None:
    """Shapes, strides, paddings, steps and formats of the reference's own property cases
    (saturating tiles, small shifts with ties, left shifts), on one or two FPGAs."""
    need_compiler()
    assume(engine_runs(case))
    count = len(case.qnet.net.ops)
    stages = (
        [(0, count - 1, tiling)] if count == 1 else [(0, cut, tiling), (cut + 1, count - 1, tiling)]
    )
    folder = tmp_path_factory.mktemp("op")
    export(folder, case.qnet, stages)
    assert_exact(check(folder, case.words))
    rng = np.random.default_rng(seed)
    more = words(rng, (3, *case.qnet.net.input_shape), case.qnet.bits)
    assert_exact(check(folder, more, built=True))
    reweight(folder, rng)
    assert_exact(check(folder, more, built=True))


def test_the_makefile_builds_and_runs_the_same_simulation(tmp_path: Path) -> None:
    need_compiler()
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    rng = np.random.default_rng(5)
    net = every_kind_net(rng)
    qnet = calibrated(net, 8, rng.normal(0, 1, (8, *net.input_shape)))
    export(tmp_path, qnet, EVERY_KIND_STAGES)
    x = words(rng, (2, *net.input_shape), 8)
    assert_exact(check(tmp_path, x))  # leaves inputs.bin and outputs.bin of 2 images
    expected = (tmp_path / "outputs.bin").read_bytes()
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run(["make", "run", "IMAGES=2"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "outputs.bin").read_bytes() == expected


def test_what_the_engine_cannot_run_is_one_line_naming_the_layer(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grouped = EngineOp(OpKind.CONV, (INPUT,), (4, 5, 5), (4, 5, 5), kernel=3, padding=1,
                       groups=2, weight=rng.normal(size=(4, 2, 3, 3)), name="grouped")  # fmt: skip
    stepped = EngineOp(OpKind.ADD, (INPUT,), (4, 5, 5), (4, 5, 5), pre=(Relu(),), name="sum")
    t = Tiling(2, 2, 2, 2, 1, 1, 1)
    images = rng.normal(size=(2, 4, 5, 5))
    for op, message in ((grouped, "layer 0 (grouped): a conv of 2 groups"),
                        (stepped, "layer 0 (sum): steps on the inputs of an add")):  # fmt: skip
        with pytest.raises(InputError, match=re.escape(message)):
            export(tmp_path, calibrated(EngineNet((4, 5, 5), (op,)), 16, images), [(0, 0, t)])
    pools = (
        EngineOp(OpKind.MAX_POOL, (INPUT,), (4, 5, 5), (4, 2, 2), kernel=2, stride=2),
        EngineOp(OpKind.MAX_POOL, (0,), (4, 2, 2), (4, 1, 1), kernel=2, stride=2),
    )
    qnet = calibrated(EngineNet((4, 5, 5), pools), 8, images)
    with pytest.raises(InputError, match="do not cover the net's 2 layers"):
        export(tmp_path, qnet, [(0, 0, t)])
    with pytest.raises(InputError, match="fixed16, the net is quantised to 8-bit words"):
        write_hls(tmp_path, qnet, design_of([(0, 1, t)], 16), parse_pool("1xXC7Z020"))
