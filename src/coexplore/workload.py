"""Workloads: the layers of a network with their shapes, as the hardware side sees them.

A workload is what every search space turns an architecture into. It carries no torch objects,
so the hardware model and the fast exploration never import torch.

Shape names follow the loop-tiling literature (Zhang et al., FPGA'15): N input channels,
M output channels, R x C output rows x columns, K kernel, S stride. A kernel may be rectangular
(Kh x Kw: `kernel` rows by `kernel_cols` columns, e.g. Inception's 1 x 7 and 7 x 1).
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
    ACT = "act"  # an element-wise function that needs a multiplier or a table (sigmoid, SiLU, ...)
    SCALE = "scale"  # channel-wise scale of an M x R x C map by M gate values (squeeze-excitation)
    NORM = "norm"  # LayerNorm over the M channels of each pixel, with its affine (ConvNeXt)


# Element-wise activations an `act` layer names (`Layer.function`); docs/hardware.md says what
# each computes. They cost the same on the engine, so the name is not part of a shape.
FUNCTIONS = ("sigmoid", "silu", "hswish", "gelu", "tanh")
# Kinds that keep the map's size and channels: one input word per output word (N == M).
_SAME_MAP = frozenset({"act", "scale", "norm"})


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
    kernel_cols: int = 0  # Kw; 0 means square (Kw = K)
    function: str = ""  # act: which function (FUNCTIONS, or a composite the ONNX reader names);
    # scale: the function its gate values pass through first ('' when the gate is already
    # scaled, e.g. a hard-sigmoid fused into the fc before it)

    def __post_init__(self) -> None:
        for attr in ("in_channels", "out_channels", "out_rows", "out_cols", "kernel", "stride"):
            if getattr(self, attr) < 1:
                raise InputError(f"layer {self._label}: {attr} must be >= 1")
        if self.kernel_cols < 0:
            raise InputError(f"layer {self._label}: kernel_cols must be >= 1 (0: square)")
        if self.kernel_cols == self.kernel:  # one spelling of a square kernel: equal layers
            object.__setattr__(self, "kernel_cols", 0)
        same_map = self.kind is LayerKind.DWCONV or self.kind.value in _SAME_MAP
        if same_map and self.in_channels != self.out_channels:
            what = "depthwise" if self.kind is LayerKind.DWCONV else self.kind.value
            raise InputError(f"{what} layer {self._label}: in_channels must equal out_channels")
        if (
            self.kind is LayerKind.FC
            and (self.out_rows, self.out_cols, self.kernel_area) != (1,) * 3
        ):
            raise InputError(f"fc layer {self._label}: out_rows, out_cols and kernel must be 1")
        if self.kind is LayerKind.ACT and not self.function:
            raise InputError(f"act layer {self._label}: needs a function, e.g. {FUNCTIONS}")

    @property
    def _label(self) -> str:
        """The layer's name for an error message, quoted when it would break the one line."""
        if not self.name:
            return str(self.kind)
        return self.name if self.name.isprintable() else repr(self.name)

    @property
    def kw(self) -> int:
        """The kernel's columns (Kw): `kernel_cols`, or `kernel` for a square kernel."""
        return self.kernel_cols or self.kernel

    @property
    def kernel_area(self) -> int:
        """Kh x Kw: the taps of one filter."""
        return self.kernel * self.kw

    @property
    def kernel_text(self) -> str:
        """ "3" for a square 3 x 3 kernel, "1x7" for a rectangular one."""
        return str(self.kernel) if self.kw == self.kernel else f"{self.kernel}x{self.kw}"

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
            return (self.out_cols - 1) * self.stride + self.kw
        return self.out_cols

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image: the conv and fc layers' (what papers count); the
        streaming layers' multiplies (act, scale, norm) are an element-wise cost, not MACs."""
        pixels = self.out_rows * self.out_cols
        if self.kind is LayerKind.CONV:
            return self.out_channels * self.in_channels * self.kernel_area * pixels
        if self.kind is LayerKind.DWCONV:
            return self.out_channels * self.kernel_area * pixels
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
            return self.out_channels * self.in_channels * self.kernel_area + bias
        if self.kind is LayerKind.DWCONV:
            return self.out_channels * self.kernel_area + bias
        if self.kind is LayerKind.NORM:  # the per-channel gain, and the shift when `bias`
            return self.out_channels + bias
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
        """Layers whose kernel and stride size the engine's banked buffers (docs/hardware.md)."""
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
            self.kw,
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
