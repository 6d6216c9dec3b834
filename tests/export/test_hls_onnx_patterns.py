"""`coexplore estimate NET.onnx --hls` and `coexplore csim` on a network people would write with
plain torch.nn: squeeze-and-excitation with SiLU and a sigmoid gate, 1 x 7 / 7 x 1 convs with
hard-swish, MobileNetV3's ReLU / hard-sigmoid SE, and a ConvNeXt block (7 x 7 depthwise conv,
channels-last LayerNorm, Linears as 1 x 1 convs, GELU, a layer scale, the residual add). The
compiled engines equal the fixed-point reference bit for bit, and count as many compute-loop
trips as the cycle model's compute term, over two FPGAs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from hls_helpers import need_compiler
from torch import nn
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "onnx_import"))
from test_onnx_engine_patterns import randomised
from test_torch_patterns import CNNS, conv_bn, export

from coexplore.cli import app
from coexplore.hardware.engine.net import OpKind
from coexplore.hardware.hls import load_engine

SHAPE = (3, 16, 16)
LAST_LINE = re.compile(r"^csim: 4 images, 0 outputs differ, cycles counted (\d+) modelled (\d+)$")


def modern_net() -> nn.Module:
    block = CNNS.ConvNeXtBlock(8)
    block.gamma.data.fill_(0.5)  # a layer scale that lets the branch matter
    return nn.Sequential(
        conv_bn(3, 8, 3, nn.SiLU), CNNS.SqueezeExcite(8, 4, nn.SiLU, nn.Sigmoid),
        conv_bn(8, 8, (1, 7), nn.Hardswish), conv_bn(8, 8, (7, 1), nn.Hardswish),
        CNNS.SqueezeExcite(8, 8, nn.ReLU, nn.Hardsigmoid), block,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    )  # fmt: skip


@pytest.fixture(scope="module")
def modern_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = randomised(modern_net(), seed=5)
    return export(model, tmp_path_factory.mktemp("onnx") / "modern.onnx", False, SHAPE)


@pytest.mark.parametrize("precision", ["fixed16", "fixed8"])
def test_estimate_hls_of_se_swish_rectangular_and_layernorm_simulates_exactly(
    modern_onnx: Path, tmp_path: Path, precision: str
) -> None:
    need_compiler()
    folder = tmp_path / "hls"
    made = CliRunner().invoke(app, ["estimate", str(modern_onnx), "--pool", "2xXC7Z020",
                                    "--precision", precision, "--hls", str(folder)])  # fmt: skip
    assert made.exit_code == 0, made.output
    engine = load_engine(folder)
    kinds = {op.kind for op in engine.qnet.net.ops}
    assert {OpKind.ACT, OpKind.SCALE, OpKind.NORM} <= kinds
    functions = {op.function for op in engine.qnet.net.ops}
    assert {"silu", "hswish", "gelu", "sigmoid"} <= functions
    assert len(engine.layers_per_fpga) == 2
    result = CliRunner().invoke(app, ["csim", str(folder), "--images", "4"])
    assert result.exit_code == 0, result.output
    last = LAST_LINE.match(result.output.strip().splitlines()[-1])
    assert last is not None, result.output
    assert last.group(1) == last.group(2)
