"""Workloads: the layers of a network with their shapes, as the hardware side sees them.

A workload is what every search space turns an architecture into. It carries no torch objects,
so the hardware model and the fast exploration never import torch.

Shape names follow the loop-tiling literature (Zhang et al., FPGA'15): N input channels,
M output channels, R x C output rows x columns, K kernel, S stride.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from coexplore.errors import InputError


class LayerKind(StrEnum):
    CONV = "conv"
    DWCONV = "dwconv"  # depthwise: one filter per channel, N == M
    POOL = "pool"  # max or average pooling over a K x K window with stride S
    FC = "fc"  # fully connected: a conv with K = 1 and R = C = 1
    ADD = "add"  # element-wise addition of two M x R x C tensors
    CONCAT = "concat"  # channel concatenation (an addressing choice: no compute)
    UPSAMPLE = "upsample"  # nearest-neighbour upsampling by an integer factor


@dataclass(frozen=True)
class Layer:
    """One layer of a workload. All sizes are counts (channels, pixels, words)."""

    kind: LayerKind
    in_channels: int  # N
    out_channels: int  # M
    out_rows: int  # R
    out_cols: int  # C
    kernel: int = 1  # K
    stride: int = 1  # S
    in_rows: int = 0  # 0 means "derived": (R - 1) * S + K for windows, R for the rest
    in_cols: int = 0
    bias: bool = True
    batchnorm: bool = False  # folded into the conv on hardware; counted in params
    name: str = ""

    def __post_init__(self) -> None:
        for attr in ("in_channels", "out_channels", "out_rows", "out_cols", "kernel", "stride"):
            if getattr(self, attr) < 1:
                raise InputError(f"layer {self._label}: {attr} must be >= 1")
        if self.kind is LayerKind.DWCONV and self.in_channels != self.out_channels:
            raise InputError(f"depthwise layer {self._label}: in_channels must equal out_channels")
        if self.kind is LayerKind.FC and (self.out_rows, self.out_cols, self.kernel) != (1, 1, 1):
            raise InputError(f"fc layer {self._label}: out_rows, out_cols and kernel must be 1")

    @property
    def _label(self) -> str:
        """The layer's name for an error message, quoted when it would break the one line."""
        if not self.name:
            return str(self.kind)
        return self.name if self.name.isprintable() else repr(self.name)

    @property
    def input_rows(self) -> int:
        if self.in_rows:
            return self.in_rows
        if self.kind in (LayerKind.CONV, LayerKind.DWCONV, LayerKind.POOL):
            return (self.out_rows - 1) * self.stride + self.kernel
        return self.out_rows

    @property
    def input_cols(self) -> int:
        if self.in_cols:
            return self.in_cols
        if self.kind in (LayerKind.CONV, LayerKind.DWCONV, LayerKind.POOL):
            return (self.out_cols - 1) * self.stride + self.kernel
        return self.out_cols

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image."""
        pixels = self.out_rows * self.out_cols
        if self.kind is LayerKind.CONV:
            return self.out_channels * self.in_channels * self.kernel**2 * pixels
        if self.kind is LayerKind.DWCONV:
            return self.out_channels * self.kernel**2 * pixels
        if self.kind is LayerKind.FC:
            return self.out_channels * self.in_channels
        return 0

    @property
    def ops(self) -> int:
        """Operations per image: a multiply-accumulate counts as two."""
        return 2 * self.macs

    @property
    def weight_words(self) -> int:
        """Weights streamed from memory (BatchNorm folded in; biases included)."""
        bias = self.out_channels if self.bias else 0
        if self.kind in (LayerKind.CONV, LayerKind.FC):
            return self.out_channels * self.in_channels * self.kernel**2 + bias
        if self.kind is LayerKind.DWCONV:
            return self.out_channels * self.kernel**2 + bias
        return 0

    @property
    def params(self) -> int:
        """Trainable parameters of the layer as built for training (BatchNorm affine included)."""
        bn = 2 * self.out_channels if self.batchnorm else 0
        return self.weight_words + bn

    @property
    def output_words(self) -> int:
        return self.out_channels * self.out_rows * self.out_cols

    @property
    def uses_window_buffers(self) -> bool:
        """Layers whose kernel and stride size the engine's banked buffers."""
        return self.kind in (LayerKind.CONV, LayerKind.DWCONV, LayerKind.FC)

    def shape_key(self) -> tuple[object, ...]:
        """Everything the hardware model depends on (the name is not part of it)."""
        return (
            self.kind.value,
            self.in_channels,
            self.out_channels,
            self.out_rows,
            self.out_cols,
            self.kernel,
            self.stride,
            self.input_rows,
            self.input_cols,
        )


@dataclass(frozen=True)
class Workload:
    """An ordered list of layers plus the skip tensors that live across layers.

    `skips` holds (producer, consumer) layer indices for tensors consumed other than by the next
    layer (residual adds, U-Net concatenations). When the pipeline is cut between producer and
    consumer, that tensor crosses the inter-FPGA link too.
    """

    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int]  # channels, rows, cols
    skips: tuple[tuple[int, int], ...] = field(default=())
    name: str = ""

    def __post_init__(self) -> None:
        if not self.layers:
            raise InputError("a workload needs at least one layer")
        n = len(self.layers)
        for producer, consumer in self.skips:
            if not 0 <= producer < consumer < n:
                raise InputError(
                    f"skip ({producer}, {consumer}) is outside 0..{n - 1} or backwards"
                )

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def ops(self) -> int:
        return 2 * self.macs

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def boundary_words(self, after: int) -> int:
        """Words that cross a pipeline cut placed after layer `after`."""
        words = self.layers[after].output_words
        for producer, consumer in self.skips:
            if producer <= after < consumer and producer != after:
                words += self.layers[producer].output_words
        return words
