"""Small engines to compile: nets, designs over several FPGAs, words that saturate."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from coexplore.hardware.accelerator import Tiling
from coexplore.hardware.devices import Precision, parse_pool
from coexplore.hardware.engine.fixed import Calibrator
from coexplore.hardware.engine.net import (
    INPUT,
    ZEROS,
    Affine,
    EngineNet,
    EngineOp,
    HardSigmoid,
    OpKind,
    Relu,
)
from coexplore.hardware.engine.quantise import QuantNet, quantise
from coexplore.hardware.engine.reference import run_float
from coexplore.hardware.hls import HlsExport, load_engine, write_hls
from coexplore.hardware.hls.manifest import params_file, word_dtype
from coexplore.hardware.pipeline import HardwareDesign, StageDesign

PRECISIONS = {8: Precision.FIXED8, 16: Precision.FIXED16}


def need_compiler() -> None:
    """Skip (with the reason) where no C++ compiler can build the simulation."""
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler (g++): the exported engine cannot be compiled here")


def design_of(stages: list[tuple[int, int, Tiling]], bits: int) -> HardwareDesign:
    return HardwareDesign(
        tuple(StageDesign("XC7Z020", first, last, t) for first, last, t in stages),
        PRECISIONS[bits],
    )


def export(folder: Path, qnet: QuantNet, stages: list[tuple[int, int, Tiling]]) -> HlsExport:
    pool = parse_pool(f"{len(stages)}xXC7Z020")
    return write_hls(folder, qnet, design_of(stages, qnet.bits), pool)


def words(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    """Input words over the whole range, a third of them at the extremes (saturating sums)."""
    top = 1 << (bits - 1)
    out = rng.integers(-top, top, size=shape)
    extreme = rng.random(shape) < 1 / 3
    return np.where(extreme, rng.choice([-top, top - 1], size=shape), out).astype(np.int64)


def reweight(hls_dir: Path, rng: np.random.Generator) -> None:
    """New parameter words for every FPGA, over the whole range: the same compiled engine,
    other data (weights, biases, affine scales and shifts; the formats stay)."""
    engine = load_engine(hls_dir)
    bits = engine.qnet.bits
    for fpga in engine.info["fpgas"]:
        new = words(rng, (int(fpga["param_words"]),), bits)
        new.astype(word_dtype(bits)).tofile(hls_dir / params_file(int(fpga["index"])))


def calibrated(net: EngineNet, bits: int, images: np.ndarray) -> QuantNet:
    calibrator = Calibrator(bits)
    run_float(net, images, calibrator.observe)
    return quantise(net, bits, calibrator.fracs())


def every_kind_net(rng: np.random.Generator) -> EngineNet:
    """Every layer kind the engine runs, with pre and post steps, an all-zero input, a
    three-input add and skips, on a 3 x 12 x 12 input (15 ops)."""

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.4, shape)

    def affine(channels: int) -> Affine:
        return Affine(rng.uniform(0.5, 2, channels), rng.normal(0, 0.3, channels))

    c = 6
    ops = [
        EngineOp(OpKind.CONV, (INPUT,), (3, 12, 12), (c, 6, 6), kernel=3, stride=2, padding=1,
                 weight=w(c, 3, 3, 3), bias=w(c), post=(Relu(), affine(c)), name="conv s2"),
        EngineOp(OpKind.CONV, (0,), (c, 6, 6), (c, 6, 6), kernel=3, padding=1, groups=c,
                 weight=w(c, 1, 3, 3), bias=w(c), pre=(Relu(),), name="depthwise"),
        EngineOp(OpKind.MAX_POOL, (1,), (c, 6, 6), (c, 3, 3), kernel=3, stride=2, padding=1,
                 pre=(Relu(),)),
        EngineOp(OpKind.AVG_POOL, (2,), (c, 3, 3), (c, 3, 3), kernel=3, padding=1),
        EngineOp(OpKind.UPSAMPLE, (3,), (c, 3, 3), (c, 6, 6)),
        EngineOp(OpKind.CONCAT, (0, 4), (2 * c, 6, 6), (2 * c, 6, 6)),
        EngineOp(OpKind.ADD, (1, 4, 0), (c, 6, 6), (c, 6, 6)),
        EngineOp(OpKind.CONV, (ZEROS,), (c, 6, 6), (c, 6, 6), weight=w(c, c, 1, 1), bias=w(c)),
        EngineOp(OpKind.ADD, (6, 7), (c, 6, 6), (c, 6, 6)),
        EngineOp(OpKind.CONV, (5,), (2 * c, 6, 6), (c, 6, 6), kernel=3, padding=1,
                 weight=w(c, 2 * c, 3, 3), pre=(affine(2 * c),)),
        EngineOp(OpKind.ADD, (9, 8), (c, 6, 6), (c, 6, 6), post=(affine(c), Relu())),
        EngineOp(OpKind.AVG_POOL, (10,), (c, 6, 6), (c, 3, 3), kernel=2, stride=2,
                 count_include_pad=True),
        EngineOp(OpKind.GLOBAL_AVG_POOL, (10,), (c, 6, 6), (c, 1, 1)),
        EngineOp(OpKind.FC, (11,), (c, 3, 3), (c, 1, 1), weight=w(c, 9 * c), bias=w(c),
                 pre=(affine(c),)),
        EngineOp(OpKind.ADD, (12, 13), (c, 1, 1), (c, 1, 1)),
    ]  # fmt: skip
    return EngineNet((3, 12, 12), tuple(ops), "every kind")


# Uneven tiles everywhere: Tc = 5 over 6 columns, Tm = 4 and 7 over 6 channels, Tn = 5 over 12.
EVERY_KIND_STAGES = [
    (0, 4, Tiling(4, 2, 4, 5, 2, 1, 3)),
    (5, 9, Tiling(3, 5, 5, 4, 1, 2, 2)),
    (10, 14, Tiling(7, 3, 2, 2, 3, 3, 1)),
]


def streaming_net(rng: np.random.Generator) -> EngineNet:
    """The layers of squeeze-and-excitation, MobileNetV3, EfficientNet and ConvNeXt: every act
    function, a scale with each gate function, norms with and without a shift (of a map and
    of a vector), hard-sigmoid steps, and rectangular windows (1 x 5 and 3 x 1 convolutions,
    a 3 x 2 pool), on a 3 x 10 x 12 input (20 ops)."""

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape)

    c, size = 6, (6, 5, 6)
    conv = dict(weight=w(c, 3, 1, 5), bias=w(c), kernel=1, kernel_cols=5, stride=2,
                padding=0, padding_cols=2)  # fmt: skip
    ops = [
        EngineOp(OpKind.CONV, (INPUT,), (3, 10, 12), size, name="conv 1x5 s2", **conv),
        EngineOp(OpKind.ACT, (0,), size, size, function="hswish"),
        EngineOp(OpKind.GLOBAL_AVG_POOL, (1,), size, (c, 1, 1)),
        EngineOp(OpKind.CONV, (2,), (c, 1, 1), (2, 1, 1), weight=w(2, c, 1, 1), bias=w(2),
                 post=(Relu(),), name="reduce"),
        EngineOp(OpKind.CONV, (3,), (2, 1, 1), (c, 1, 1), weight=w(c, 2, 1, 1), bias=w(c),
                 post=(HardSigmoid(),), name="expand"),
        EngineOp(OpKind.SCALE, (1, 4), size, size, name="se hard"),
        EngineOp(OpKind.CONV, (5,), size, size, weight=w(c, c, 3, 1), kernel=3, kernel_cols=1,
                 padding=1, padding_cols=0, name="conv 3x1"),
        EngineOp(OpKind.ACT, (6,), size, size, function="silu"),
        EngineOp(OpKind.GLOBAL_AVG_POOL, (7,), size, (c, 1, 1)),
        EngineOp(OpKind.SCALE, (7, 8), size, size, function="sigmoid", post=(Relu(),)),
        EngineOp(OpKind.SCALE, (9, 8), size, size, function="tanh"),
        EngineOp(OpKind.SCALE, (10, 8), size, size),
        EngineOp(OpKind.NORM, (11,), size, size, weight=w(c) + 1, bias=w(c), eps=1e-6,
                 pre=(Relu(),)),
        EngineOp(OpKind.ACT, (12,), size, size, function="gelu"),
        EngineOp(OpKind.NORM, (13,), size, size, weight=w(c) + 1, eps=1e-5),
        EngineOp(OpKind.ACT, (14,), size, size, function="sigmoid", post=(HardSigmoid(),)),
        EngineOp(OpKind.MAX_POOL, (15,), size, (c, 3, 3), kernel=3, kernel_cols=2, stride=2,
                 padding=1, padding_cols=0),
        EngineOp(OpKind.ACT, (16,), (c, 3, 3), (c, 3, 3), function="tanh"),
        EngineOp(OpKind.GLOBAL_AVG_POOL, (17,), (c, 3, 3), (c, 1, 1)),
        EngineOp(OpKind.NORM, (18,), (c, 1, 1), (c, 1, 1), weight=w(c) + 1, bias=w(c),
                 eps=1e-6),
    ]  # fmt: skip
    return EngineNet((3, 10, 12), tuple(ops), "streaming")


# Uneven tiles: Tm x Tn = 4, 7, 6 over 180-word maps (trips with a partial last one).
STREAMING_STAGES = [
    (0, 6, Tiling(2, 2, 2, 4, 2, 1, 3)),
    (7, 13, Tiling(7, 1, 3, 2, 1, 3, 2)),
    (14, 19, Tiling(3, 2, 2, 2, 3, 2, 1)),
]
