"""The nuclei-segmentation space: a U-Net whose levels each choose a kernel and a width.

Network for an input of C x H x W with L levels (H and W divisible by 2^(L-1)):
  encoder, level l = 0..L-2: block(k_l, f_l) at H/2^l, then 2x2 max pooling with stride 2
  bottleneck, level L-1:     block(k_{L-1}, f_{L-1}) at H/2^(L-1)
  decoder, level l = L-2..0: nearest 2x upsampling, channel concatenation [upsampled, skip] with
                             the encoder's level-l output, then block(k_l, f_l): the decoder
                             mirrors the encoder and shares its tokens
  head:                      Conv2d(1 x 1, bias) to `num_classes` logits per pixel
A block is `convs` times Conv2d(k x k, padding k // 2, no bias) -> BatchNorm -> ReLU.

Tokens, in order, per level: `level{l}.kernel` (kind `kernel`) and `level{l}.filters` (kind
`filters{l}`): level l offers `base_filters` times 2^l, so the widths grow with depth as usual.

Workload: layers in execution order (the CONCAT layer has the concatenated channel count as both
N and M; it costs nothing on hardware). Each concatenation reads the encoder output of its level
from far back, recorded in `Workload.skips` as (encoder block's last conv, concat), so a pipeline
cut between them sends that tensor over the link too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from coexplore.errors import InputError
from coexplore.spaces.base import (
    SearchSpace,
    TokenType,
    check_space_field,
    choice_index,
    digest_of,
    json_field,
)
from coexplore.workload import Layer, LayerKind, Workload


@dataclass(frozen=True)
class UnetLevel:
    kernel: int
    filters: int


@dataclass(frozen=True)
class UnetArch:
    """One (kernel, filters) pair per level, shallowest first."""

    levels: tuple[UnetLevel, ...]

    @property
    def key(self) -> str:
        """Canonical string, e.g. "unet:k3f8-k5f32-k3f64-k7f128"."""
        return "unet:" + "-".join(f"k{x.kernel}f{x.filters}" for x in self.levels)

    @property
    def digest(self) -> str:
        return digest_of(self.key)


@dataclass(frozen=True)
class UnetSpace(SearchSpace[UnetArch]):
    """U-Nets of `levels` levels (the bottleneck included) with `convs` convs per block."""

    name: ClassVar[str] = "unet"
    settings: ClassVar[tuple[str, ...]] = ("levels",)
    model_builder: ClassVar[str] = "coexplore.slow.unet_model:build_unet"

    levels: int = 4
    kernels: tuple[int, ...] = (3, 5, 7)
    base_filters: tuple[int, ...] = (8, 16, 24)
    convs: int = 2

    @classmethod
    def from_settings(cls, settings: Any) -> UnetSpace:
        """The space a config's [space] section asks for (`coexplore.problem.make_space`)."""
        return cls(levels=settings.levels or cls.levels)  # the bottleneck included (0: default)

    def __post_init__(self) -> None:
        if self.levels < 1 or self.convs < 1:
            raise InputError(f"levels and convs must be >= 1, got {self.levels}, {self.convs}")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise InputError(f"kernels must be odd and >= 1 ('same' padding), got {self.kernels}")
        if not self.base_filters or min(self.base_filters) < 1:
            raise InputError(f"base_filters must be >= 1, got {self.base_filters}")

    @classmethod
    def for_json(cls, data: Mapping[str, Any]) -> UnetSpace:
        """The default-choice space with as many levels as this architecture JSON."""
        return cls(levels=max(1, len(json_field(data, "levels", list))))

    def level_filters(self, level: int) -> tuple[int, ...]:
        return tuple(f * 2**level for f in self.base_filters)

    @property
    def divisor(self) -> int:
        """Input rows and cols must be multiples of this (one halving per pooling)."""
        return 2 ** (self.levels - 1)

    @cached_property
    def _tokens(self) -> tuple[TokenType, ...]:
        tokens = []
        for level in range(self.levels):
            tokens.append(TokenType(f"level{level}.kernel", "kernel", self.kernels))
            filters = self.level_filters(level)
            tokens.append(TokenType(f"level{level}.filters", f"filters{level}", filters))
        return tuple(tokens)

    def token_types(self) -> tuple[TokenType, ...]:
        return self._tokens

    def encode(self, arch: UnetArch) -> tuple[int, ...]:
        if len(arch.levels) != self.levels:
            raise InputError(f"levels: expected {self.levels} levels, got {len(arch.levels)}")
        indices: list[int] = []
        for i, x in enumerate(arch.levels):
            indices.append(choice_index(x.kernel, self.kernels, f"levels[{i}].kernel"))
            indices.append(choice_index(x.filters, self.level_filters(i), f"levels[{i}].filters"))
        return tuple(indices)

    def decode(self, indices: tuple[int, ...]) -> UnetArch:
        self.check_indices(indices)
        levels = [
            UnetLevel(self.kernels[indices[2 * i]], self.level_filters(i)[indices[2 * i + 1]])
            for i in range(self.levels)
        ]
        return UnetArch(tuple(levels))

    def workload(
        self, arch: UnetArch, input_shape: tuple[int, int, int], num_classes: int
    ) -> Workload:
        channels, rows, cols = input_shape
        if rows % self.divisor or cols % self.divisor:
            raise InputError(f"a U-Net of {self.levels} levels needs rows and cols divisible by "
                             f"{self.divisor}, got {input_shape}")  # fmt: skip
        layers: list[Layer] = []
        skips: list[tuple[int, int]] = []
        encoded: list[int] = []  # index of each encoder level's output layer
        for level, x in enumerate(arch.levels):
            if level:
                layers.append(_pool(channels, rows, cols, f"enc{level - 1}.pool"))
                rows, cols = rows // 2, cols // 2
            layers += self._block(x, channels, (rows, cols), f"enc{level}")
            channels = x.filters
            encoded.append(len(layers) - 1)
        for level in reversed(range(self.levels - 1)):
            layers.append(_upsample(channels, rows, cols, f"dec{level}.up"))
            rows, cols, channels = 2 * rows, 2 * cols, channels + arch.levels[level].filters
            skips.append((encoded[level], len(layers)))  # the concat reads far back
            layers.append(Layer(LayerKind.CONCAT, channels, channels, rows, cols, bias=False,
                                name=f"dec{level}.concat"))  # fmt: skip
            layers += self._block(arch.levels[level], channels, (rows, cols), f"dec{level}")
            channels = arch.levels[level].filters
        layers.append(Layer(LayerKind.CONV, channels, num_classes, rows, cols, name="head"))
        return Workload(tuple(layers), input_shape, tuple(skips), arch.key)

    def _block(self, x: UnetLevel, channels: int, size: tuple[int, int], name: str) -> list[Layer]:
        """`convs` convs k x k with BN, no bias; in_rows/in_cols are the unpadded input."""
        rows, cols = size
        block = []
        for i in range(self.convs):
            conv = Layer(LayerKind.CONV, channels, x.filters, rows, cols, x.kernel, 1, rows, cols,
                         bias=False, batchnorm=True, name=f"{name}.conv{i}")  # fmt: skip
            block.append(conv)
            channels = x.filters
        return block

    def to_json(self, arch: UnetArch) -> dict[str, Any]:
        levels = [{"kernel": x.kernel, "filters": x.filters} for x in arch.levels]
        return {"space": self.name, "levels": levels}

    def from_json(self, data: Mapping[str, Any]) -> UnetArch:
        check_space_field(data, self.name)
        levels = []
        for i, item in enumerate(json_field(data, "levels", list)):
            where = f"levels[{i}]."
            kernel = json_field(item, "kernel", int, where)
            levels.append(UnetLevel(kernel, json_field(item, "filters", int, where)))
        arch = UnetArch(tuple(levels))
        self.encode(arch)  # membership check: raises ValueError naming the field
        return arch


def _pool(channels: int, rows: int, cols: int, name: str) -> Layer:
    """2 x 2 max pooling with stride 2 (rows and cols are even)."""
    return Layer(LayerKind.POOL, channels, channels, rows // 2, cols // 2, 2, 2, bias=False,
                 name=name)  # fmt: skip


def _upsample(channels: int, rows: int, cols: int, name: str) -> Layer:
    """Nearest-neighbour 2x upsampling of a channels x rows x cols tensor."""
    return Layer(LayerKind.UPSAMPLE, channels, channels, 2 * rows, 2 * cols, in_rows=rows,
                 in_cols=cols, bias=False, name=name)  # fmt: skip
