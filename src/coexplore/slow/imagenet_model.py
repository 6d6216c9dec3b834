"""The torch model of an ImageNet-space architecture (layout in `coexplore.spaces.imagenet`)."""

from __future__ import annotations

from torch import nn

from coexplore.spaces.imagenet import ImagenetArch, ImagenetLayer, ImagenetSpace


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    """Conv2d(k x k, padding k // 2, no bias: BatchNorm follows) -> BatchNorm2d -> ReLU.

    Kernels are odd, so padding k // 2 gives the 'same' output size ceil(in / stride).
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                     bias=False)  # fmt: skip
    return [conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def _op(layer: ImagenetLayer, in_channels: int, filters: int, stride: int) -> list[nn.Module]:
    if layer.op == "conv":
        return conv_bn_relu(in_channels, filters, layer.kernel, stride)
    depthwise = conv_bn_relu(in_channels, in_channels, layer.kernel, stride, groups=in_channels)
    return depthwise + conv_bn_relu(in_channels, filters, 1)


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
