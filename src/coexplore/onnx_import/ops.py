"""The ONNX ops the reader knows: which become layers (and how), which are fused or ignored.

Each builder turns one node on the image path into a workload `Layer`, reading sizes from the
shapes that inference gave (`Graph.shape`) and refusing what the workload cannot say with an
`OnnxImportError` naming the node and the op. Element-wise ops (activations, gates, the
squeeze-and-excitation scale, residual adds) are read in `onnx_import.elementwise`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from coexplore.errors import InputError
from coexplore.workload import Layer, LayerKind

Dims = tuple[int | None, ...]  # None: a dimension shape inference left symbolic or unknown


class OnnxImportError(InputError):
    """The graph cannot be read as a workload; the message names the node and the op.

    Always one line: names taken from the file are shown with their control characters escaped.
    """

    def __init__(self, message: str) -> None:
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in message))


# Fused into the producing layer's write-back, free on the engine (docs/hardware.md: BatchNorm
# folds, ReLU is fused): affine maps, comparisons and clipping. A classifier's closing softmax
# is left to the host, as before.
FUSED = frozenset({
    "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip", "HardSigmoid", "Softmax",
    "LogSoftmax",
})  # fmt: skip
# Functions that need a table or a multiplier per word: an `act` layer (elementwise.py).
TABLES = frozenset({
    "Sigmoid", "Tanh", "Erf", "Gelu", "HardSwish", "Softplus", "Softsign", "Mish", "Elu", "Selu",
    "Celu",
})  # fmt: skip
# Layout and bookkeeping ops: no arithmetic on the engine. (Transpose: only the channels-last
# round trip around a LayerNorm, elementwise.py.)
IGNORED = frozenset({
    "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast", "Pad",
})  # fmt: skip
# Ops whose meaning does not depend on the layout: they may read a channels-last tensor.
ANY_LAYOUT = frozenset({"LayerNormalization", "MatMul", "Transpose", "Dropout", "Identity", "Cast"})
# Element-wise with a constant (bias after MatMul, input normalisation): fused like BatchNorm.
SCALING = frozenset({"Add", "Sub", "Mul", "Div"})
# Read shapes, not values: their outputs are not activations.
METADATA = frozenset({"Shape", "Size"})
# Inputs that carry activations; other inputs are parameters (weights, scales, sizes).
DATA_POSITIONS = {
    "Conv": (0,), "Gemm": (0, 1), "MatMul": (0, 1), "Resize": (0,), "Upsample": (0,),
    "LayerNormalization": (0,),
}  # fmt: skip
# Ops that read their weights (at input 1) beside the activation.
WITH_WEIGHTS = frozenset({"Conv", "Gemm", "MatMul", "LayerNormalization"})


@dataclass(frozen=True)
class Function:
    """An activation as an element-wise function of `root`: a tensor that a layer (or the
    image input) wrote. A function the engine applies on its write-back (ReLU, clipping,
    scaling by constants) needs no layer; `tables` (the ops needing a table or a multiplier,
    in order) or a `gates` count (products or sums of two functions of the root, as
    x * sigmoid(x)) make it an `act` layer once a layer reads it (elementwise.py)."""

    root: str
    tables: tuple[str, ...] = ()
    gates: int = 0
    clipped: bool = False  # a Clip or HardSigmoid in the chain: x * clip(...) is hard-swish

    @property
    def needs_layer(self) -> bool:
        return bool(self.tables) or self.gates > 0


@dataclass
class Graph:
    """The walk's state: shapes of all tensors, which layer produced each activation."""

    shapes: dict[str, Dims]
    producer: dict[str, int | None]  # a placed tensor -> its layer index (None: the image input)
    layers: list[Layer] = field(default_factory=list)
    skips: list[tuple[int, int]] = field(default_factory=list)
    batchnorm: set[int] = field(default_factory=set)
    functions: dict[str, Function] = field(default_factory=dict)  # every activation tensor
    makers: dict[str, onnx.NodeProto] = field(default_factory=dict)  # tensor -> its node
    channels_last: set[str] = field(default_factory=set)  # N x H x W x C tensors (Transpose)

    def shape(self, name: str, node: onnx.NodeProto, rank: int | None = None) -> tuple[int, ...]:
        dims = self.shapes.get(name)
        if dims is None or None in dims or (rank is not None and len(dims) != rank):
            shown = "unknown" if dims is None else shape_text(dims)
            need = f" (a rank-{rank} tensor is needed)" if rank is not None and dims else ""
            raise node_error(node, f"tensor {name!r} has no static shape: {shown}{need}")
        return tuple(d for d in dims if d is not None)

    def map_size(self, name: str, node: onnx.NodeProto) -> tuple[int, int, int]:
        """(channels, rows, cols) of a map (N x C x H x W, or N x H x W x C when channels-last)
        or of a vector (N x C: channels, 1, 1)."""
        dims = self.shape(name, node)
        if len(dims) == 2:
            return dims[1], 1, 1
        if len(dims) != 4:
            raise node_error(node, f"tensor {name!r} is {shape_text(dims)}: not a map or a vector")
        if name in self.channels_last:
            return dims[3], dims[1], dims[2]
        return dims[1], dims[2], dims[3]


WEIGHTED = (LayerKind.CONV, LayerKind.DWCONV, LayerKind.FC)


def _conv(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, n, rows, cols = graph.shape(node.input[0], node, 4)
    m, per_group, kh, kw = graph.shape(node.input[1], node, 4)
    _, _, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    if kh < 1 or kw < 1:
        raise node_error(node, f"kernel {shape_text((kh, kw))} is empty")
    stride = _square(node, "stride", tuple(ints(node, "strides", [1, 1])))
    if any(d != 1 for d in ints(node, "dilations", [1])):
        raise node_error(node, f"dilation {ints(node, 'dilations', [])} is not supported (only 1)")
    groups = ints(node, "group", [1])[0]
    if groups < 1 or n != per_group * groups or m % groups:
        raise node_error(node, f"{groups} groups do not divide {n} inputs into {per_group}")
    # Depthwise (N == M == groups) has its own kind; other grouped convs are a conv whose
    # outputs each read N / groups inputs (exact MACs; docs/onnx-import.md says the cost model).
    kind = LayerKind.DWCONV if groups == n == m and groups > 1 else LayerKind.CONV
    bias = len(node.input) > 2 and bool(node.input[2])
    return Layer(kind, n if kind is LayerKind.DWCONV else per_group, m, out_rows, out_cols, kh,
                 stride, rows, cols, bias=bias, name=node_name(node), kernel_cols=kw)  # fmt: skip


def _gemm(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if data[0] != node.input[0]:
        raise node_error(node, "weights x activation: only activation x weights is supported")
    if ints(node, "transA", [0])[0]:
        raise node_error(node, "transA = 1 is not supported")
    if node.op_type == "MatMul" and len(graph.shape(node.input[0], node)) != 2:
        return _pointwise(graph, node)
    _, features = graph.shape(node.input[0], node, 2)
    weights = graph.shape(node.input[1], node, 2)
    inputs, outputs = weights[::-1] if ints(node, "transB", [0])[0] else weights
    if inputs != features:
        raise node_error(node, f"weights {shape_text(weights)} do not take {features} features")
    bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
    return Layer(LayerKind.FC, features, outputs, 1, 1, bias=bias, name=node_name(node))


def _pointwise(graph: Graph, node: onnx.NodeProto) -> Layer:
    """MatMul of a channels-last map by weights (Linear in a ConvNeXt block): a 1 x 1 conv."""
    if node.input[0] not in graph.channels_last:
        dims = shape_text(graph.shape(node.input[0], node))
        raise node_error(
            node,
            f"multiplies a {dims} tensor by weights: only a vector (N x C) or "
            "a channels-last map (after Transpose 0,2,3,1) is supported",
        )
    channels, rows, cols = graph.map_size(node.input[0], node)
    inputs, outputs = graph.shape(node.input[1], node, 2)
    if inputs != channels:
        raise node_error(node, f"weights {inputs}x{outputs} do not take {channels} channels")
    return Layer(LayerKind.CONV, channels, outputs, rows, cols, 1, 1, rows, cols, bias=False,
                 name=node_name(node))  # fmt: skip


def _layer_norm(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    """LayerNormalization over the channels only: of a channels-last map or of a vector."""
    dims = graph.shape(node.input[0], node)
    axis = ints(node, "axis", [-1])[0]
    over_channels = len(dims) == 2 or (len(dims) == 4 and node.input[0] in graph.channels_last)
    if not over_channels or axis not in (-1, len(dims) - 1):
        raise node_error(
            node,
            f"normalises axes {axis}.. of {shape_text(dims)}: only a LayerNorm "
            "over the channels of a channels-last map or a vector is supported",
        )
    channels, rows, cols = graph.map_size(node.input[0], node)
    bias = len(node.input) > 2 and bool(node.input[2])
    return Layer(LayerKind.NORM, channels, channels, rows, cols, bias=bias, name=node_name(node))


def _pool(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, channels, rows, cols = graph.shape(node.input[0], node, 4)
    _, _, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    if node.op_type.startswith("Global"):
        window = max(rows, cols)  # as the spaces write global pooling: one window, one output
        return Layer(LayerKind.POOL, channels, channels, 1, 1, window, window, rows, cols,
                     bias=False, name=node_name(node))  # fmt: skip
    if any(d != 1 for d in ints(node, "dilations", [1])):
        raise node_error(node, "dilated pooling is not supported")
    kernel = tuple(ints(node, "kernel_shape", []))
    if len(kernel) != 2 or min(kernel) < 1:
        raise node_error(node, f"window {shape_text(kernel)} is not supported (2-D only)")
    stride = _square(node, "stride", tuple(ints(node, "strides", [1, 1])))
    return Layer(LayerKind.POOL, channels, channels, out_rows, out_cols, kernel[0], stride, rows,
                 cols, bias=False, name=node_name(node), kernel_cols=kernel[1])  # fmt: skip


def _global_reduce(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    """ReduceMean / ReduceMax over rows and columns (how exporters write global pooling)."""
    dims = graph.shape(node.input[0], node, 4)
    out = graph.shape(node.output[0], node)
    if out not in ((dims[0], dims[1], 1, 1), (dims[0], dims[1])):
        hint = " (a LayerNorm written out? use nn.LayerNorm)" if out[:2] != dims[:2] else ""
        raise node_error(node, f"reduces other axes than rows and columns{hint}")
    window = max(dims[2], dims[3])
    return Layer(LayerKind.POOL, dims[1], dims[1], 1, 1, window, window, dims[2], dims[3],
                 bias=False, name=node_name(node))  # fmt: skip


def _concat(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if len(data) != len(node.input):
        raise node_error(node, "concatenates activations with constants")
    out = graph.shape(node.output[0], node, 4)
    axis = ints(node, "axis", [1])[0]
    if axis not in (1, -3):
        raise node_error(node, f"concatenates on axis {axis}; only channels (axis 1) are supported")
    return Layer(LayerKind.CONCAT, out[1], out[1], out[2], out[3], bias=False, name=node_name(node))


def _resize(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, channels, rows, cols = graph.shape(node.input[0], node, 4)
    _, out_channels, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    if out_channels != channels:
        raise node_error(node, "resizes the channel axis")
    return Layer(LayerKind.UPSAMPLE, channels, channels, out_rows, out_cols, in_rows=rows,
                 in_cols=cols, bias=False, name=node_name(node))  # fmt: skip


Builder = Callable[[Graph, onnx.NodeProto, list[str]], Layer]


BUILDERS: dict[str, Builder] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _gemm,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _pool,
    "GlobalMaxPool": _pool,
    "ReduceMean": _global_reduce,
    "ReduceMax": _global_reduce,
    "Concat": _concat,
    "Resize": _resize,
    "Upsample": _resize,
    "LayerNormalization": _layer_norm,
}


def ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attribute in node.attribute:
        if attribute.name == name:
            if attribute.type not in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS):
                raise node_error(node, f"attribute {name} must be integers")
            value = onnx.helper.get_attribute_value(attribute)
            values = value if isinstance(value, Sequence) else [value]
            if not all(isinstance(v, int) for v in values):
                raise node_error(node, f"attribute {name} must be integers")
            return list(values) or default
    return default


def _square(node: onnx.NodeProto, what: str, sizes: tuple[int, ...]) -> int:
    if len(sizes) != 2 or sizes[0] != sizes[1] or sizes[0] < 1:
        raise node_error(node, f"{what} {shape_text(sizes)} is not supported (equal 2-D only)")
    return sizes[0]


def node_name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def node_error(node: onnx.NodeProto, message: str) -> OnnxImportError:
    return OnnxImportError(f"node {node_name(node)!r} ({node.op_type}): {message}")


def shape_text(dims: Sequence[Any]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "(none)"
