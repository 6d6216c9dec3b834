"""The CIFAR chain space: a plain chain of conv layers, as in the authors' result logs.

Each layer is `Conv2d(k x k, 'same' padding, bias) -> ReLU -> BatchNorm`; the head is
`Flatten -> Linear(classes)`; no pooling and no skips. Per layer the tokens are, in order,
kernel, filters and (in the "predictable" stride setting only) stride. In the "fixed" setting
every stride is 1 and no stride token exists, so the controller never spends a step on it.

'Same' padding means an output of ceil(in / stride) rows and columns. Kernels are odd, so a
symmetric padding of k // 2 gives exactly that size for stride 1 and 2.
"""

from __future__ import annotations

import math
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

STRIDE_MODES = ("fixed", "predictable")


@dataclass(frozen=True)
class ChainLayer:
    kernel: int
    filters: int
    stride: int = 1


@dataclass(frozen=True)
class ChainArch:
    """A chain architecture: one (kernel, filters, stride) triple per conv layer."""

    layers: tuple[ChainLayer, ...]

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def key(self) -> str:
        """Canonical string, e.g. "chain:k3f24s1-k5f64s2"."""
        return "chain:" + "-".join(f"k{x.kernel}f{x.filters}s{x.stride}" for x in self.layers)

    @property
    def digest(self) -> str:
        return digest_of(self.key)


@dataclass(frozen=True)
class ChainSpace(SearchSpace[ChainArch]):
    """Chains of `depth` conv layers; `stride_mode` is "fixed" (all 1) or "predictable" ({1,2})."""

    name: ClassVar[str] = "chain"
    settings: ClassVar[tuple[str, ...]] = ("layers", "stride_mode")
    model_builder: ClassVar[str] = "coexplore.slow.builders:build_chain"

    @classmethod
    def for_json(cls, data: Mapping[str, Any]) -> ChainSpace:
        """Depth and stride mode from the JSON's layers."""
        layers = data.get("layers")
        if not isinstance(layers, list) or not layers:
            raise InputError("layers: expected a non-empty list")
        strided = any(isinstance(x, Mapping) and x.get("stride", 1) != 1 for x in layers)
        return cls(depth=len(layers), stride_mode="predictable" if strided else "fixed")

    depth: int = 6
    stride_mode: str = "fixed"
    kernels: tuple[int, ...] = (1, 3, 5, 7)
    filters: tuple[int, ...] = (24, 36, 48, 64)

    @classmethod
    def from_settings(cls, settings: Any) -> ChainSpace:
        """The space a config's [space] section asks for (`coexplore.problem.make_space`):
        `layers` conv layers (0: the default), `stride_mode`."""
        return cls(depth=settings.layers or cls.depth, stride_mode=settings.stride_mode)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise InputError(f"depth must be >= 1, got {self.depth}")
        if self.stride_mode not in STRIDE_MODES:
            raise InputError(f"stride_mode must be one of {STRIDE_MODES}, got {self.stride_mode!r}")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise InputError(f"kernels must be odd and >= 1 ('same' padding), got {self.kernels}")
        if not self.filters or any(f < 1 for f in self.filters):
            raise InputError(f"filters must be >= 1, got {self.filters}")

    @property
    def strides(self) -> tuple[int, ...]:
        return (1,) if self.stride_mode == "fixed" else (1, 2)

    @property
    def tokens_per_layer(self) -> int:
        return 2 if self.stride_mode == "fixed" else 3

    @cached_property
    def _tokens(self) -> tuple[TokenType, ...]:
        tokens = []
        for i in range(self.depth):
            tokens.append(TokenType(f"layer{i}.kernel", "kernel", self.kernels))
            tokens.append(TokenType(f"layer{i}.filters", "filters", self.filters))
            if self.stride_mode == "predictable":
                tokens.append(TokenType(f"layer{i}.stride", "stride", self.strides))
        return tuple(tokens)

    def token_types(self) -> tuple[TokenType, ...]:
        return self._tokens

    def encode(self, arch: ChainArch) -> tuple[int, ...]:
        if arch.depth != self.depth:
            raise InputError(f"layers: expected {self.depth} layers, got {arch.depth}")
        indices: list[int] = []
        for i, layer in enumerate(arch.layers):
            indices.append(choice_index(layer.kernel, self.kernels, f"layers[{i}].kernel"))
            indices.append(choice_index(layer.filters, self.filters, f"layers[{i}].filters"))
            stride = choice_index(layer.stride, self.strides, f"layers[{i}].stride")
            if self.stride_mode == "predictable":
                indices.append(stride)
        return tuple(indices)

    def decode(self, indices: tuple[int, ...]) -> ChainArch:
        self.check_indices(indices)
        per = self.tokens_per_layer
        layers = []
        for start in range(0, len(indices), per):
            stride = self.strides[indices[start + 2]] if per == 3 else 1
            kernel, filters = self.kernels[indices[start]], self.filters[indices[start + 1]]
            layers.append(ChainLayer(kernel, filters, stride))
        return ChainArch(tuple(layers))

    def workload(
        self, arch: ChainArch, input_shape: tuple[int, int, int], num_classes: int
    ) -> Workload:
        channels, rows, cols = input_shape
        layers = []
        for i, x in enumerate(arch.layers):
            out_rows, out_cols = math.ceil(rows / x.stride), math.ceil(cols / x.stride)
            # in_rows/in_cols are the real (unpadded) input size, not the derived padded extent.
            conv = Layer(
                LayerKind.CONV, channels, x.filters, out_rows, out_cols, x.kernel, x.stride,
                in_rows=rows, in_cols=cols, bias=True, batchnorm=True, name=f"conv{i}",
            )  # fmt: skip
            layers.append(conv)
            channels, rows, cols = x.filters, out_rows, out_cols
        layers.append(Layer(LayerKind.FC, channels * rows * cols, num_classes, 1, 1, name="fc"))
        return Workload(tuple(layers), input_shape, name=arch.key)

    def to_json(self, arch: ChainArch) -> dict[str, Any]:
        layers = [
            {"kernel": x.kernel, "filters": x.filters, "stride": x.stride} for x in arch.layers
        ]
        return {"space": self.name, "layers": layers}

    def from_json(self, data: Mapping[str, Any]) -> ChainArch:
        check_space_field(data, self.name)
        items = json_field(data, "layers", list)
        layers = []
        for i, item in enumerate(items):
            where = f"layers[{i}]."
            kernel = json_field(item, "kernel", int, where)
            filters = json_field(item, "filters", int, where)
            # Stride may be left out in the fixed setting, where it is always 1.
            stride = json_field(item, "stride", int, where) if "stride" in item else 1
            layers.append(ChainLayer(kernel, filters, stride))
        arch = ChainArch(tuple(layers))
        self.encode(arch)  # membership check: raises ValueError naming the field
        return arch


def scheduled_depth(
    samples_seen: int,
    *,
    every_samples: int,
    start_depth: int = 6,
    step: int = 2,
    max_depth: int = 14,
) -> int:
    """Zoph-style depth schedule: `start_depth`, +`step` every `every_samples` samples, capped."""
    if samples_seen < 0 or every_samples < 1:
        raise InputError("samples_seen must be >= 0 and every_samples >= 1")
    return min(start_depth + step * (samples_seen // every_samples), max_depth)
