"""The torch model of an ImageNet-space architecture (layout in `coexplore.spaces.imagenet`)."""

from __future__ import annotations

import torch
from torch import nn

from coexplore.spaces.imagenet import ImagenetArch, ImagenetLayer, ImagenetSpace


def activation(name: str) -> nn.Module:
    """The layer's activation: "relu" or "hswish" (hard-swish)."""
    return nn.Hardswish(inplace=True) if name == "hswish" else nn.ReLU(inplace=True)


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    act: str = "relu",
) -> list[nn.Module]:
    """Conv2d(k x k, padding k // 2, no bias: BatchNorm follows) -> BatchNorm2d -> ReLU (or
    the activation `act` names).

    Kernels are odd, so padding k // 2 gives the 'same' output size ceil(in / stride).
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                     bias=False)  # fmt: skip
    return [conv, nn.BatchNorm2d(out_channels), activation(act)]


class SqueezeExcite(nn.Module):
    """Global average pool, 1x1 conv to max(1, C // 4), ReLU, 1x1 conv back, a sigmoid gate
    (hard-sigmoid in a hard-swish layer, as MobileNetV3), and the channel-wise product."""

    def __init__(self, channels: int, hard: bool) -> None:
        super().__init__()
        squeezed = max(1, channels // 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce, self.relu = nn.Conv2d(channels, squeezed, 1), nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid() if hard else nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


def _op(layer: ImagenetLayer, in_channels: int, filters: int, stride: int) -> list[nn.Module]:
    width = filters if layer.op == "conv" else in_channels
    groups = 1 if layer.op == "conv" else in_channels
    modules = conv_bn_relu(in_channels, width, layer.kernel, stride, groups, layer.act)
    if layer.se:
        modules.append(SqueezeExcite(width, hard=layer.act == "hswish"))
    if layer.op == "sep":
        modules += conv_bn_relu(in_channels, filters, 1, act=layer.act)
    return modules


def build_imagenet(
    space: ImagenetSpace, arch: ImagenetArch, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """Five stages, each opening with stride 2; global average pooling; Linear classifier."""
    channels = input_shape[0]
    modules: list[nn.Module] = []
    for stage in arch.stages:
        for i, layer in enumerate(stage.layers):
            modules += _op(layer, channels, stage.filters, 2 if i == 0 else 1)
            channels = stage.filters
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*modules, *head)
