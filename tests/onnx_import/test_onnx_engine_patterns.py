"""The networks people write, with their weights, as engine nets: every pattern of
test_torch_patterns (squeeze-and-excitation with SiLU, ReLU or Linear layers and a sigmoid or
hard-sigmoid gate, SiLU / hard-swish / GELU as modules or by hand, Kh x Kw convs and pools,
the channels-last LayerNorm, a ConvNeXt block) exported by torch and read by
`load_onnx_engine_net`: its workload is the workload reader's layer for layer (functions
included), its float arithmetic is the torch forward, and its fixed-point arithmetic at 16
bits predicts what the float one does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_helpers  # noqa: F401  (first: it puts tests/slow on the path)
import pytest
import torch
from test_engine_convert import randomise_batchnorm  # tests/slow
from test_torch_patterns import EXPORTERS, PATTERNS, SHAPE, export, summary
from torch import nn

from coexplore.hardware.engine.net import OpKind
from coexplore.hardware.engine.reference import input_words, predict, run_float, run_integer
from coexplore.hardware.hls.inputs import calibrated
from coexplore.onnx_import import load_onnx_workload
from coexplore.onnx_import.engine import load_onnx_engine_net

# The engine op each pattern's new layer becomes (the rest are convs and pools).
NEW_OPS = {
    "se_silu": {OpKind.ACT, OpKind.SCALE},
    "se_hard": {OpKind.ACT, OpKind.SCALE},
    "se_linear": {OpKind.SCALE},
    "layer_norm": {OpKind.NORM},
    "convnext_block": {OpKind.NORM, OpKind.ACT},
}


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """Batch norm statistics and LayerNorm gains far from their initial ones (folding and the
    norm's gain and shift must matter), in eval mode."""
    rng = np.random.default_rng(seed)
    randomise_batchnorm(model, rng)
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            n = module.normalized_shape[0]
            module.weight.data.copy_(torch.tensor(rng.normal(1, 0.5, n)))
            module.bias.data.copy_(torch.tensor(rng.normal(0, 0.5, n)))
    return model.eval()


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern_is_its_workload_and_its_torch_output(
    name: str, dynamo: bool, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = randomised(PATTERNS[name]()[0], seed=3)
    path = export(model, tmp_path / f"{name}.onnx", dynamo)
    net = load_onnx_engine_net(path)
    theirs = load_onnx_workload(path)
    assert summary(net.workload()) == summary(theirs)
    assert net.workload().skips == theirs.skips
    assert NEW_OPS.get(name, set()) <= {op.kind for op in net.ops}
    images = np.random.default_rng(1).normal(size=(4, *SHAPE))
    with torch.no_grad():
        expected = model.double()(torch.tensor(images)).numpy()
    got = run_float(net, images).reshape(expected.shape)
    # The engine's GELU is the erf form; the tanh approximation is within 5e-4 of it.
    tolerance = 1e-3 if name == "gelu_tanh" else 1e-6
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * np.abs(expected).max())


@pytest.mark.parametrize("name", ["se_silu", "se_hard", "rectangular", "convnext_block"])
def test_pattern_in_sixteen_bit_words_is_close_to_its_float_output(
    name: str, tmp_path: Path
) -> None:
    """Calibrated at 16 bits, the integer arithmetic (tables, rounding) stays within a few
    percent of the float output's range: the formats, the tables and the gate order agree."""
    torch.manual_seed(0)
    model = randomised(PATTERNS[name]()[0], seed=4)
    net = load_onnx_engine_net(export(model, tmp_path / f"{name}.onnx", False))
    images = np.random.default_rng(2).normal(size=(16, *SHAPE))
    qnet = calibrated(net, images, 16)
    words = run_integer(qnet, input_words(qnet, images))
    floats = run_float(net, images)
    scale = 2.0 ** -qnet.ops[-1].out_frac
    error = np.abs(words * scale - floats).max()
    assert error <= 0.02 * np.abs(floats).max(), error
    assert (predict(words) == predict(floats)).mean() >= 0.8
