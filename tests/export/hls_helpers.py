"""Small engines to compile: nets, designs over several FPGAs, words that saturate."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from coexplore.hardware.accelerator import Tiling
from coexplore.hardware.devices import Precision, parse_pool
from coexplore.hardware.engine.fixed import Calibrator
from coexplore.hardware.engine.net import INPUT, ZEROS, Affine, EngineNet, EngineOp, OpKind, Relu
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
