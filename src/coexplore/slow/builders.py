"""Torch models for architectures, built only when a child is trained (registry by space name).

Every builder returns a model whose trainable parameters and conv/linear multiply-accumulates
equal the space's workload (`params`, `macs`); the tests check that on random architectures.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from coexplore.errors import InputError
from coexplore.registry import Registry
from coexplore.spaces import SPACES
from coexplore.spaces.base import SearchSpace
from coexplore.spaces.chain import ChainArch, ChainSpace
from coexplore.spaces.nb201 import CONV_KERNELS, Nb201Arch, Nb201Space
from coexplore.spaces.nb201_cell import INPUT, cell_graph


def build_model(
    space: SearchSpace[Any],
    arch: Any,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    seed: int = 0,
) -> nn.Module:
    """The torch model of `arch`, its weights initialised from `seed`.

    The global torch RNG is left as it was: initialisation runs under a forked RNG state.
    """
    builder = BUILDERS[space.name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(space, arch, input_shape, num_classes)


def build_chain(
    space: ChainSpace, arch: ChainArch, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """As the authors' logged models: per layer Conv2d(k, 'same' padding, bias) -> ReLU ->
    BatchNorm2d; Flatten -> Linear.

    Kernels are odd, so padding k // 2 gives the 'same' output size ceil(in / stride).
    """
    channels, rows, cols = input_shape
    modules: list[nn.Module] = []
    for layer in arch.layers:
        conv = nn.Conv2d(channels, layer.filters, layer.kernel, layer.stride, layer.kernel // 2)
        modules += [conv, nn.ReLU(inplace=True), nn.BatchNorm2d(layer.filters)]
        channels = layer.filters
        rows, cols = math.ceil(rows / layer.stride), math.ceil(cols / layer.stride)
    modules += [nn.Flatten(), nn.Linear(channels * rows * cols, num_classes)]
    return nn.Sequential(*modules)


class ReLUConvBN(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        conv = nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, bias=False)
        super().__init__(nn.ReLU(inplace=False), conv, nn.BatchNorm2d(out_channels))


class ResidualReduction(nn.Module):
    """The NAS-Bench-201 ResNet basic block with stride 2 between stages."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, 2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, 2), nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class Nb201Cell(nn.Module):
    """The cell's live graph (`spaces.nb201_cell`), as its workload has it: each vertex's op on
    the sum it reads, the output sum (zeros when no signal reaches it). Ops that reach no output
    or read only zeros are not built, two pools of one sum are one, and a skip is its sum."""

    def __init__(self, arch: Nb201Arch, channels: int) -> None:
        super().__init__()
        self.graph = cell_graph(arch.ops)
        self.ops = nn.ModuleList(_cell_op(v.op, channels) for v in self.graph.vertices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        for number, (vertex, op) in enumerate(zip(self.graph.vertices, self.ops, strict=True)):
            values[number] = op(_total(values, vertex.inputs))
        return _total(values, self.graph.output) if self.graph.output else torch.zeros_like(x)


def _total(values: dict[int, torch.Tensor], terms: tuple[int, ...]) -> torch.Tensor:
    tensors = [values[source] for source in terms]
    return sum(tensors[1:], tensors[0])


def _cell_op(op: str, channels: int) -> nn.Module:
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    return ReLUConvBN(channels, channels, CONV_KERNELS[op], 1)


def build_nb201(
    space: Nb201Space, arch: Nb201Arch, input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """The standard NAS-Bench-201 network: stem, 3 stages of cells, 2 reductions, BN-ReLU-GAP-FC."""
    if input_shape[1] % 4 or input_shape[2] % 4:
        raise InputError(f"NAS-Bench-201 needs rows and cols divisible by 4, got {input_shape}")
    width = space.init_channels
    stem = nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)
    modules: list[nn.Module] = [stem, nn.BatchNorm2d(width)]
    for stage in range(3):
        if stage:
            modules.append(ResidualReduction(width, 2 * width))
            width *= 2
        modules += [Nb201Cell(arch, width) for _ in range(space.cells_per_stage)]
    head = [nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*modules, *head, nn.Linear(width, num_classes))


def _builder(path: str) -> Callable[..., nn.Module]:
    module, _, function = path.partition(":")
    return getattr(importlib.import_module(module), function)


# Derived from the one registry of spaces: each names its builder (`model_builder`).
BUILDERS: Registry[Callable[..., nn.Module]] = Registry(
    "model builder", {name: _builder(space.model_builder) for name, space in SPACES.items()}
)
