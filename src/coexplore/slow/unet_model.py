"""The torch model of a U-Net-space architecture (layout in `coexplore.spaces.unet`)."""

from __future__ import annotations

import torch
from torch import nn

from coexplore.errors import InputError
from coexplore.slow.imagenet_model import conv_bn_relu
from coexplore.spaces.unet import UnetArch, UnetLevel, UnetSpace


def _block(level: UnetLevel, in_channels: int, convs: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    for _ in range(convs):
        modules += conv_bn_relu(in_channels, level.filters, level.kernel)
        in_channels = level.filters
    return nn.Sequential(*modules)


class UNet(nn.Module):
    """Encoder blocks with 2x2 max pooling, a bottleneck, and a decoder that upsamples (nearest),
    concatenates [upsampled, skip] and runs the mirrored block; a 1x1 conv head gives logits."""

    def __init__(self, arch: UnetArch, in_channels: int, num_classes: int, convs: int) -> None:
        super().__init__()
        levels = arch.levels
        encoders, channels = [], in_channels
        for level in levels:
            encoders.append(_block(level, channels, convs))
            channels = level.filters
        decoders = []
        for level in reversed(levels[:-1]):
            decoders.append(_block(level, channels + level.filters, convs))
            channels = level.filters
        self.encoders = nn.ModuleList(encoders)
        self.decoders = nn.ModuleList(decoders)  # deepest first
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(self.pool(x) if i else x)
            skips.append(x)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            x = decoder(torch.cat([self.up(x), skip], dim=1))
        return self.head(x)


def build_unet(
    space: UnetSpace, arch: UnetArch, input_shape: tuple[int, int, int], num_classes: int
) -> UNet:
    """Logits of shape (batch, num_classes, rows, cols); rows and cols divisible by 2^(L-1)."""
    rows, cols = input_shape[1:]
    if rows % space.divisor or cols % space.divisor:
        raise InputError(f"a U-Net of {space.levels} levels needs rows and cols divisible by "
                         f"{space.divisor}, got {input_shape}")  # fmt: skip
    return UNet(arch, input_shape[0], num_classes, space.convs)
