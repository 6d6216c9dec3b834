"""Networks as people write them, read back from torch's ONNX export: squeeze-and-excitation,
SiLU, hard-swish, GELU, sigmoid, rectangular kernels and the channels-last LayerNorm, each
built with plain torch.nn. For each: the MACs equal the torch forward-hook count, the layers
are the ones its architecture JSON lists (kinds, shapes, functions, skips), and the exact
optimiser finds the same design on both. Both exporters: TorchScript (opset 17, which writes
GELU as erf and products) and dynamo (opset 18+, marked slow)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from onnx_helpers import count_macs, example_script
from torch import nn

from coexplore.archfile import parse_arch
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import parse_pool
from coexplore.onnx_import import OnnxImportError, load_onnx_workload
from coexplore.workload import Workload

SHAPE = (3, 16, 16)
CNNS = example_script("modern_cnns")  # the examples' SE block, ConvNeXt block, networks


def export(model: nn.Module, path: Path, dynamo: bool, shape: tuple[int, ...] = SHAPE) -> Path:
    """`model` (eval mode) as ONNX, by the dynamo or the TorchScript exporter."""
    example = torch.zeros(1, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=True, verbose=False)
        else:
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, opset_version=17)
    return path


def layer(kind: str, n: int, m: int, size: int, k: int = 1, s: int = 1, **more: Any) -> dict:
    """A raw architecture-JSON layer on a square map of `size` (output rows and columns),
    padded to keep the size ("same"): its input is size x stride."""
    return {"kind": kind, "in_channels": n, "out_channels": m, "out_rows": size,
            "out_cols": size, "kernel": k, "stride": s, "in_rows": size * s,
            "in_cols": size * s, **more}  # fmt: skip


def conv_bn(cin: int, cout: int, kernel: Any = 3, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    pad = (kernel[0] // 2, kernel[1] // 2) if isinstance(kernel, tuple) else kernel // 2
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, 1, pad), nn.BatchNorm2d(cout), act())


class Product(nn.Module):
    """x * f(x), written by hand."""

    def __init__(self, gate: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class LinearSE(nn.Module):
    """Squeeze-and-excitation with nn.Linear on the pooled vector, reshaped back to 1 x 1."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, squeezed), nn.ReLU(),
                                nn.Linear(squeezed, channels), nn.Sigmoid())  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc(x.mean((2, 3)))
        return x * gate.view(x.shape[0], -1, 1, 1)


def head(cin: int, size: int = 16) -> tuple[nn.Module, dict]:
    """A closing 1 x 1 conv to 4 channels, and its JSON layer."""
    return nn.Conv2d(cin, 4, 1), layer("conv", cin, 4, size)


def se_silu() -> tuple[nn.Module, list[dict], list[list[int]]]:
    """EfficientNet's: SiLU everywhere, sigmoid gate; the scale reads the map (a skip)."""
    closing, last = head(8)
    model = nn.Sequential(conv_bn(3, 8, 3, nn.SiLU), CNNS.SqueezeExcite(8, 2, nn.SiLU, nn.Sigmoid),
                          closing)  # fmt: skip
    layers = [
        layer("conv", 3, 8, 16, 3), layer("act", 8, 8, 16, function="silu"),
        layer("pool", 8, 8, 1, 16, 16, in_rows=16, in_cols=16),
        layer("conv", 8, 2, 1), layer("act", 2, 2, 1, function="silu"),
        layer("conv", 2, 8, 1), layer("scale", 8, 8, 16, function="sigmoid"), last,
    ]  # fmt: skip
    return model, layers, [[1, 6]]


def se_hard() -> tuple[nn.Module, list[dict], list[list[int]]]:
    """MobileNetV3's: hard-swish map, ReLU inside, hard-sigmoid gate (fused into the fc)."""
    closing, last = head(8)
    model = nn.Sequential(conv_bn(3, 8, 3, nn.Hardswish),
                          CNNS.SqueezeExcite(8, 8, nn.ReLU, nn.Hardsigmoid), closing)  # fmt: skip
    layers = [layer("conv", 3, 8, 16, 3), layer("act", 8, 8, 16, function="hswish"),
              layer("pool", 8, 8, 1, 16, 16, in_rows=16, in_cols=16), layer("conv", 8, 8, 1),
              layer("conv", 8, 8, 1), layer("scale", 8, 8, 16), last]  # fmt: skip
    return model, layers, [[1, 5]]


def se_linear() -> tuple[nn.Module, list[dict], list[list[int]]]:
    closing, last = head(8)
    model = nn.Sequential(conv_bn(3, 8), LinearSE(8, 4), closing)
    layers = [layer("conv", 3, 8, 16, 3), layer("pool", 8, 8, 1, 16, 16, in_rows=16, in_cols=16),
              layer("fc", 8, 4, 1), layer("fc", 4, 8, 1),
              layer("scale", 8, 8, 16, function="sigmoid"), last]  # fmt: skip
    return model, layers, [[0, 4]]


def activation(module: nn.Module, function: str) -> Callable[[], tuple]:
    """conv -> `module` -> conv: the activation is one `act` layer named `function`."""

    def build() -> tuple[nn.Module, list[dict], list[list[int]]]:
        closing, last = head(8)
        model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), module, closing)
        layers = [layer("conv", 3, 8, 16, 3), layer("act", 8, 8, 16, function=function), last]
        return model, layers, []

    return build


def fused_hardsigmoid() -> tuple[nn.Module, list[dict], list[list[int]]]:
    """A hard-sigmoid is an affine map and a clip: fused like ReLU6, no layer."""
    closing, last = head(8)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.Hardsigmoid(), closing)
    return model, [layer("conv", 3, 8, 16, 3), last], []


def rectangular() -> tuple[nn.Module, list[dict], list[list[int]]]:
    """Inception's 1 x 7 and 7 x 1, a 1 x 5 depthwise conv, a 1 x 3 / 1 max pool."""
    model = nn.Sequential(
        conv_bn(3, 8, (1, 7)), conv_bn(8, 8, (7, 1)),
        nn.Conv2d(8, 8, (1, 5), 1, (0, 2), groups=8), nn.MaxPool2d((1, 3), 1, (0, 1)),
    )  # fmt: skip
    layers = [layer("conv", 3, 8, 16, 1, kernel_cols=7), layer("conv", 8, 8, 16, 7, kernel_cols=1),
              layer("dwconv", 8, 8, 16, 1, kernel_cols=5),
              layer("pool", 8, 8, 16, 1, kernel_cols=3)]  # fmt: skip
    return model, layers, []


class LayerNorm2d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def layer_norm() -> tuple[nn.Module, list[dict], list[list[int]]]:
    """permute -> nn.LayerNorm -> permute is one `norm` layer; the Transposes are free."""
    closing, last = head(8)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), LayerNorm2d(8), closing)
    layers = [layer("conv", 3, 8, 16, 3), layer("norm", 8, 8, 16), last]
    return model, layers, []


def convnext_block() -> tuple[nn.Module, list[dict], list[list[int]]]:
    """ConvNeXt's block: its Linears on the channels-last map are 1 x 1 convs."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), CNNS.ConvNeXtBlock(8))
    layers = [layer("conv", 3, 8, 16, 3), layer("dwconv", 8, 8, 16, 7),
              layer("norm", 8, 8, 16), layer("conv", 8, 32, 16),
              layer("act", 32, 32, 16, function="gelu"), layer("conv", 32, 8, 16),
              layer("add", 8, 8, 16)]  # fmt: skip
    return model, layers, [[0, 6]]


PATTERNS = {
    "se_silu": se_silu,
    "se_hard": se_hard,
    "se_linear": se_linear,
    "silu": activation(nn.SiLU(), "silu"),
    "silu_by_hand": activation(Product(torch.sigmoid), "silu"),
    "hswish": activation(nn.Hardswish(), "hswish"),
    "hswish_by_hand": activation(Product(lambda x: F.relu6(x + 3) / 6), "hswish"),
    "gelu": activation(nn.GELU(), "gelu"),
    "gelu_tanh": activation(nn.GELU(approximate="tanh"), "gelu"),
    "sigmoid": activation(nn.Sigmoid(), "sigmoid"),
    "tanh": activation(nn.Tanh(), "tanh"),
    "fused_hardsigmoid": fused_hardsigmoid,
    "rectangular": rectangular,
    "layer_norm": layer_norm,
    "convnext_block": convnext_block,
}
EXPORTERS = [pytest.param(False, id="torchscript"),
             pytest.param(True, id="dynamo", marks=pytest.mark.slow)]  # fmt: skip
POOL = "1xXC7Z020+1xXC7A50T"


def summary(workload: Workload) -> list[tuple[object, ...]]:
    return [(*x.shape_key(), x.function) for x in workload.layers]


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern_reads_as_its_architecture_json(name: str, dynamo: bool, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, layers, skips = PATTERNS[name]()
    from_onnx = load_onnx_workload(export(model, tmp_path / f"{name}.onnx", dynamo))
    from_json = parse_arch({"input_shape": list(SHAPE), "layers": layers, "skips": skips}).workload

    assert from_onnx.macs == count_macs(model, SHAPE) == from_json.macs
    assert summary(from_onnx) == summary(from_json)
    assert from_onnx.skips == from_json.skips
    pool = parse_pool(POOL)
    by_json, by_onnx = (
        OptimalExplorer(pool).explore(from_json),
        OptimalExplorer(pool).explore(from_onnx),
    )
    assert by_onnx.evaluation is not None and by_json.evaluation is not None
    assert (by_onnx.design, by_onnx.evaluation.fps) == (by_json.design, by_json.evaluation.fps)


@pytest.mark.slow
@pytest.mark.parametrize(
    "build", ["efficientnet_b0", "mobilenet_v3_large", "regnety_1_6gf", "convnext_tiny"]
)
def test_modern_blocks_at_a_small_input_equal_the_hook_count(build: str, tmp_path: Path) -> None:
    """The four example networks, whole, at 64 x 64 (their ops at every shape they meet)."""
    torch.manual_seed(0)
    model = getattr(CNNS, build)(classes=10)
    path = export(model, tmp_path / "net.onnx", dynamo=False, shape=(3, 64, 64))
    workload = load_onnx_workload(path)
    assert workload.macs == count_macs(model, (3, 64, 64))


class Attention(nn.Module):
    """Multi-head self-attention over tokens, as ViT writes it (qkv split, Q K^T, softmax)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.qkv, self.proj = (
            heads,
            nn.Linear(width, 3 * width),
            nn.Linear(width, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5).softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class TinyViT(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, width, 4, 4)
        self.norm, self.attn = nn.LayerNorm(width), Attention(width, 2)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = tokens + self.attn(self.norm(tokens))
        return self.head(tokens.mean(1))


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_small_vit_is_refused_at_its_attention(dynamo: bool, tmp_path: Path) -> None:
    """Whatever comes before it (a Split, a token Transpose), attention is what is named."""
    path = export(TinyViT(), tmp_path / "vit.onnx", dynamo)
    attention = "MatMul of two activations: attention is not something the tiled convolution"
    with pytest.raises(OnnxImportError, match=attention):
        load_onnx_workload(path)
