"""EfficientNet-B0, MobileNetV3-Large, RegNetY-1.6GF and ConvNeXt-T in plain torch.nn.

Written from the papers (no torchvision), for 224 x 224 inputs and 1,000 classes, the way
people write them: squeeze-and-excitation as pool -> 1 x 1 convs -> sigmoid (or hard-sigmoid)
-> a product with the map, SiLU and hard-swish as torch's modules (exported as Sigmoid + Mul and
HardSwish), ConvNeXt's block in channels-last with nn.LayerNorm and nn.Linear between two
permutes. `onnx_models.py` exports them next to VGG-16, ResNet-18 and MobileNetV2.

- EfficientNet-B0: Tan & Le, ICML 2019, Table 1 (MBConv with SE ratio 0.25 of the block's input
  channels, SiLU), about 0.39 GMACs.
- MobileNetV3-Large: Howard et al., ICCV 2019, Table 1 (SE squeezing to the expansion / 4,
  rounded to 8, with a hard-sigmoid gate; hard-swish in the later half), about 0.22 GMACs.
- RegNetY-1.6GF: Radosavovic et al., CVPR 2020 (d = 27, w0 = 48, wa = 20.71, wm = 2.65,
  group width 24, bottleneck ratio 1, SE ratio 0.25 of the block's input width): stage widths
  48, 120, 336, 888 and depths 2, 6, 17, 2 from the quantised linear rule, about 1.6 GMACs.
- ConvNeXt-T: Liu et al., CVPR 2022 (4 x 4 / 4 stem, depths 3, 3, 9, 3, widths 96 ... 768,
  7 x 7 depthwise, LayerNorm, 4x MLP with GELU, layer scale), about 4.5 GMACs.
Stochastic depth and dropout are training-time only and left out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

CLASSES = 1000


def _divisible(value: float, divisor: int = 8) -> int:
    """Round to a multiple of `divisor`, never below 90 % (the MobileNet papers' rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(cout)]


class SqueezeExcite(nn.Module):
    """Global average pool, a 1 x 1 conv down to `squeezed`, an activation, a 1 x 1 conv back,
    a gate (sigmoid or hard-sigmoid), and the channel-wise product with the input."""

    def __init__(
        self, channels: int, squeezed: int, act: type[nn.Module], gate: type[nn.Module]
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce, self.act = nn.Conv2d(channels, squeezed, 1), act()
        self.expand, self.gate = nn.Conv2d(squeezed, channels, 1), gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class MBConv(nn.Module):
    """Inverted residual with SE: 1 x 1 expansion (none when it would not widen), k x k
    depthwise, SE, 1 x 1 linear projection; residual add when the block keeps its shape."""

    def __init__(
        self, cin: int, hidden: int, cout: int, kernel: int, stride: int, se: int,
        act: type[nn.Module], gate: type[nn.Module] = nn.Sigmoid,
    ) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = []
        if hidden != cin:
            layers += [*_conv_bn(cin, hidden, 1), act()]
        layers += [*_conv_bn(hidden, hidden, kernel, stride, groups=hidden), act()]
        if se:
            layers.append(SqueezeExcite(hidden, se, act if gate is nn.Sigmoid else nn.ReLU, gate))
        layers += _conv_bn(hidden, cout, 1)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def efficientnet_b0(classes: int = CLASSES) -> nn.Sequential:
    """Table 1: a 3 x 3 / 2 stem, seven MBConv stages, a 1 x 1 conv to 1280, pool, FC."""
    stages = [  # (expansion, kernel, stride, channels, layers)
        (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
    ]  # fmt: skip
    layers: list[nn.Module] = [*_conv_bn(3, 32, 3, 2), nn.SiLU()]
    channels = 32
    for expand, kernel, stride, width, repeats in stages:
        for i in range(repeats):
            se = max(1, channels // 4)  # SE ratio 0.25 of the block's input channels
            block = MBConv(channels, channels * expand, width, kernel, stride if i == 0 else 1,
                           se, nn.SiLU)  # fmt: skip
            layers.append(block)
            channels = width
    layers += [*_conv_bn(channels, 1280, 1), nn.SiLU()]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, classes)]
    return nn.Sequential(*layers, *head)


def mobilenet_v3_large(classes: int = CLASSES) -> nn.Sequential:
    """Table 1: a 3 x 3 / 2 stem (hard-swish), fifteen bottlenecks, a 1 x 1 conv to 960,
    pool, 1280 hidden units (hard-swish, no BatchNorm), FC."""
    blocks = [  # (kernel, expansion size, out, SE, hard-swish, stride)
        (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2),
        (3, 72, 24, False, False, 1), (5, 72, 40, True, False, 2),
        (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
        (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1),
        (3, 184, 80, False, True, 1), (3, 184, 80, False, True, 1),
        (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
        (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1),
        (5, 960, 160, True, True, 1),
    ]  # fmt: skip
    layers: list[nn.Module] = [*_conv_bn(3, 16, 3, 2), nn.Hardswish()]
    channels = 16
    for kernel, hidden, width, se, hswish, stride in blocks:
        act = nn.Hardswish if hswish else nn.ReLU
        squeezed = _divisible(hidden / 4) if se else 0
        layers.append(MBConv(channels, hidden, width, kernel, stride, squeezed, act,
                             nn.Hardsigmoid))  # fmt: skip
        channels = width
    layers += [*_conv_bn(channels, 960, 1), nn.Hardswish()]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(960, 1280), nn.Hardswish(),
            nn.Dropout(0.2), nn.Linear(1280, classes)]  # fmt: skip
    return nn.Sequential(*layers, *head)


class YBlock(nn.Module):
    """RegNetY's block: 1 x 1 conv, 3 x 3 group conv (stride s), SE, 1 x 1 conv; a projection
    shortcut (1 x 1 / s conv) where the shape changes; ReLU after the add."""

    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(cin, cout, 1), nn.ReLU(),
            *_conv_bn(cout, cout, 3, stride, groups=cout // group_width), nn.ReLU(),
            SqueezeExcite(cout, se, nn.ReLU, nn.Sigmoid),
            *_conv_bn(cout, cout, 1),
        )  # fmt: skip
        reshape = stride != 1 or cin != cout
        self.shortcut = nn.Sequential(*_conv_bn(cin, cout, 1, stride)) if reshape else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def regnet_widths(
    depth: int, w0: int, wa: float, wm: float, group_width: int
) -> list[tuple[int, int]]:
    """The quantised linear rule: (width, depth) per stage, widths a multiple of the group
    width (RegNetY-1.6GF: (48, 2), (120, 6), (336, 17), (888, 2))."""
    widths = []
    for j in range(depth):
        step = round(math.log((w0 + wa * j) / w0) / math.log(wm))
        widths.append(round(w0 * wm**step / 8) * 8)
    stages = [(w, widths.count(w)) for w in sorted(set(widths))]
    return [(round(w / min(group_width, w)) * min(group_width, w), d) for w, d in stages]


def regnety_1_6gf(classes: int = CLASSES) -> nn.Sequential:
    """A 3 x 3 / 2 stem of 32, four stages (each opening with stride 2), pool, FC."""
    layers: list[nn.Module] = [*_conv_bn(3, 32, 3, 2), nn.ReLU()]
    channels = 32
    for width, depth in regnet_widths(27, 48, 20.71, 2.65, 24):
        for i in range(depth):
            se = round(0.25 * channels)  # SE ratio 0.25 of the block's input width
            layers.append(YBlock(channels, width, 2 if i == 0 else 1, 24, se))
            channels = width
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes)]
    return nn.Sequential(*layers, *head)


class ChannelsLastNorm(nn.Module):
    """LayerNorm over the channels of an N x C x H x W map: permute, nn.LayerNorm, permute."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """7 x 7 depthwise conv; then, channels-last, LayerNorm, Linear to 4C, GELU, Linear back,
    layer scale; residual add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels)
        )
        self.gamma = nn.Parameter(1e-6 * torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        return x + (self.gamma * self.mlp(y)).permute(0, 3, 1, 2)


class MeanNorm(nn.Module):
    """ConvNeXt's head norm: the mean over rows and columns, then LayerNorm (as the authors'
    code writes it; a Flatten of the permuted map would export as a strided gather)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.mean((-2, -1)))


def convnext_tiny(classes: int = CLASSES) -> nn.Sequential:
    """A 4 x 4 / 4 stem with LayerNorm; four stages of (3, 3, 9, 3) blocks of widths (96, 192,
    384, 768), each but the first opened by LayerNorm and a 2 x 2 / 2 conv; pool, LayerNorm,
    FC."""
    widths, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 4), ChannelsLastNorm(widths[0])]
    for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
        if stage:
            before = widths[stage - 1]
            layers += [ChannelsLastNorm(before), nn.Conv2d(before, width, 2, 2)]
        layers += [ConvNeXtBlock(width) for _ in range(depth)]
    return nn.Sequential(*layers, MeanNorm(widths[-1]), nn.Linear(widths[-1], classes))
