"""VGG-16, ResNet-18, MobileNetV2 and (from modern_cnns.py) EfficientNet-B0, MobileNetV3-Large,
RegNetY-1.6GF and ConvNeXt-T in plain torch.nn (no torchvision), exported to ONNX.

    python docs/examples/onnx_models.py [OUT_DIR] [--weights] [--only NAME ...]

writes OUT_DIR/NAME.onnx for each (vgg16, resnet18, mobilenet_v2, efficientnet_b0,
mobilenet_v3_large, regnety_1_6gf, convnext_tiny; default OUT_DIR: docs/examples, where the
graphs are committed) for a 1x3x224x224 input;
`coexplore estimate docs/examples/resnet18.onnx` estimates one. By default the graphs are saved
without their weights (each weight keeps its name and shape, its data is left out: tens of
kilobytes instead of VGG-16's 530 MB); estimates need the shapes only. `--weights` writes real
(randomly initialised) weights next to each graph as ONNX external data (NAME.onnx.data,
ignored by git), so ONNX Runtime can run the files too.

The layouts follow the papers (Simonyan & Zisserman 2015, config D; He et al. 2016, Table 1;
Sandler et al. 2018, Table 2) and the usual torchvision layouts of them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # modern_cnns.py, when imported by path
from modern_cnns import (
    convnext_tiny,
    efficientnet_b0,
    mobilenet_v3_large,
    regnety_1_6gf,
)

INPUT_SHAPE = (3, 224, 224)
CLASSES = 1000


def vgg16(classes: int = CLASSES) -> nn.Sequential:
    """13 conv 3x3 layers in five blocks, each closed by 2x2 max pooling; three FC layers."""
    widths = [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ]
    layers: list[nn.Module] = []
    channels = 3
    for width in widths:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        assert isinstance(width, int)
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        channels = width
    head = [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, classes)]  # fmt: skip
    return nn.Sequential(*layers, *head)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """Two 3x3 convs and an identity shortcut (a strided 1x1 conv where the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, 3, stride), nn.ReLU(inplace=True),
                                  *_conv_bn(cout, cout, 3))  # fmt: skip
        reshape = stride != 1 or cin != cout
        self.shortcut = nn.Sequential(*_conv_bn(cin, cout, 1, stride)) if reshape else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def resnet18(classes: int = CLASSES) -> nn.Sequential:
    """7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks, global average pool, FC."""
    layers: list[nn.Module] = [*_conv_bn(3, 64, 7, 2), nn.ReLU(inplace=True),
                               nn.MaxPool2d(3, 2, padding=1)]  # fmt: skip
    channels = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(channels, width, stride), BasicBlock(width, width, 1)]
        channels = width
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers, *head)


class InvertedResidual(nn.Module):
    """1x1 expansion (skipped for t = 1), 3x3 depthwise, 1x1 linear projection; residual add
    when the block keeps its shape."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*_conv_bn(cin, hidden, 1), nn.ReLU6(inplace=True)]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(inplace=True)]
        layers += _conv_bn(hidden, cout, 1)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2(classes: int = CLASSES) -> nn.Sequential:
    """Width 1.0: a 3x3/2 stem, 17 inverted residual blocks, a 1x1 conv to 1280, pool, FC."""
    settings = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]  # (expansion t, channels c, repeats n, stride s)
    layers: list[nn.Module] = [*_conv_bn(3, 32, 3, 2), nn.ReLU6(inplace=True)]
    channels = 32
    for expand, width, repeats, stride in settings:
        for i in range(repeats):
            layers.append(InvertedResidual(channels, width, stride if i == 0 else 1, expand))
            channels = width
    layers += [*_conv_bn(channels, 1280, 1), nn.ReLU6(inplace=True)]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, classes)]
    return nn.Sequential(*layers, *head)


MODELS: dict[str, Callable[[], nn.Module]] = {
    "vgg16": vgg16,
    "resnet18": resnet18,
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "mobilenet_v3_large": mobilenet_v3_large,
    "regnety_1_6gf": regnety_1_6gf,
    "convnext_tiny": convnext_tiny,
}


def export(model: nn.Module, path: Path, weights: bool = False) -> Path:
    """Write `model` (eval mode, batch 1, 224x224) as ONNX; without `weights`, the graph only."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, *INPUT_SHAPE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model.eval(), (example,), dynamo=True, verbose=False,
                                    input_names=["image"], output_names=["logits"])  # fmt: skip
    proto = program.model_proto
    data = path.name + ".data"
    if weights:
        onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=0)  # fmt: skip
    else:
        _drop_weights(proto, data)
        onnx.save_model(proto, path)
    return path


def _drop_weights(proto: object, location: str) -> None:
    """Keep every weight's name, type and shape; point its data to an external file that is
    not written (ONNX readers that need shapes only, like coexplore, load without it). Integer
    tensors (shapes, axes) are small and shape inference reads their values: they stay."""
    from onnx import TensorProto

    offset = 0
    for tensor in proto.graph.initializer:  # type: ignore[attr-defined]
        if tensor.data_type not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
            continue
        length = len(tensor.raw_data) or tensor.ByteSize()
        for field in ("raw_data", "float_data", "int64_data", "int32_data", "double_data"):
            tensor.ClearField(field)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", offset), ("length", length)):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        offset += length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path(__file__).parent)
    parser.add_argument("--weights", action="store_true", help="also write the weights")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), help="these networks only")
    args = parser.parse_args()
    for name, build in MODELS.items():
        if args.only and name not in args.only:
            continue
        torch.manual_seed(0)
        print(export(build(), args.out_dir / f"{name}.onnx", args.weights))


if __name__ == "__main__":
    main()
