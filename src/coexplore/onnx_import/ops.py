"""The ONNX ops the reader knows: which become layers (and how), which are fused or ignored.

Each builder turns one node on the image path into a workload `Layer`, reading sizes from the
shapes that inference gave (`Graph.shape`) and refusing what the workload cannot say with an
`OnnxImportError` naming the node and the op.
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


# Fused into the producing layer or free on the engine (BN folds, ReLU is fused: docs/hardware.md).
FUSED = frozenset({
    "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Clip",
    "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "Softmax",
    "LogSoftmax",
})  # fmt: skip
# Layout and bookkeeping ops: no arithmetic on the engine.
IGNORED = frozenset({
    "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast", "Pad",
})  # fmt: skip
# Element-wise with a constant (bias after MatMul, input normalisation): fused like BatchNorm.
SCALING = frozenset({"Add", "Sub", "Mul", "Div"})
# Read shapes, not values: their outputs are not activations.
METADATA = frozenset({"Shape", "Size"})
# Inputs that carry activations; other inputs are parameters (weights, scales, sizes).
DATA_POSITIONS = {"Conv": (0,), "Gemm": (0, 1), "MatMul": (0, 1), "Resize": (0,), "Upsample": (0,)}


@dataclass
class Graph:
    """The walk's state: shapes of all tensors, which layer produced each activation."""

    shapes: dict[str, Dims]
    producer: dict[str, int | None]  # activation tensor -> layer index (None: the image input)
    layers: list[Layer] = field(default_factory=list)
    skips: list[tuple[int, int]] = field(default_factory=list)
    batchnorm: set[int] = field(default_factory=set)

    def shape(self, name: str, node: onnx.NodeProto, rank: int | None = None) -> tuple[int, ...]:
        dims = self.shapes.get(name)
        if dims is None or None in dims or (rank is not None and len(dims) != rank):
            shown = "unknown" if dims is None else shape_text(dims)
            need = f" (a rank-{rank} tensor is needed)" if rank is not None and dims else ""
            raise node_error(node, f"tensor {name!r} has no static shape: {shown}{need}")
        return tuple(d for d in dims if d is not None)


WEIGHTED = (LayerKind.CONV, LayerKind.DWCONV, LayerKind.FC)


def _conv(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, n, rows, cols = graph.shape(node.input[0], node, 4)
    m, per_group, kh, kw = graph.shape(node.input[1], node, 4)
    _, _, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    kernel = _square(node, "kernel", (kh, kw))
    stride = _square(node, "stride", tuple(_ints(node, "strides", [1, 1])))
    if any(d != 1 for d in _ints(node, "dilations", [1])):
        raise node_error(node, f"dilation {_ints(node, 'dilations', [])} is not supported (only 1)")
    groups = _ints(node, "group", [1])[0]
    if groups < 1 or n != per_group * groups or m % groups:
        raise node_error(node, f"{groups} groups do not divide {n} inputs into {per_group}")
    # Depthwise (N == M == groups) has its own kind; other grouped convs are a conv whose
    # outputs each read N / groups inputs (exact MACs; docs/onnx-import.md says the cost model).
    kind = LayerKind.DWCONV if groups == n == m and groups > 1 else LayerKind.CONV
    bias = len(node.input) > 2 and bool(node.input[2])
    return Layer(kind, n if kind is LayerKind.DWCONV else per_group, m, out_rows, out_cols, kernel,
                 stride, rows, cols, bias=bias, name=node_name(node))  # fmt: skip


def _gemm(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if len(data) > 1 or data[0] != node.input[0]:
        raise node_error(node, "multiplies two activations; only activation x weights is supported")
    if _ints(node, "transA", [0])[0]:
        raise node_error(node, "transA = 1 is not supported")
    _, features = graph.shape(node.input[0], node, 2)
    weights = graph.shape(node.input[1], node, 2)
    inputs, outputs = weights[::-1] if _ints(node, "transB", [0])[0] else weights
    if inputs != features:
        raise node_error(node, f"weights {shape_text(weights)} do not take {features} features")
    bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
    return Layer(LayerKind.FC, features, outputs, 1, 1, bias=bias, name=node_name(node))


def _pool(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, channels, rows, cols = graph.shape(node.input[0], node, 4)
    _, _, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    if node.op_type.startswith("Global"):
        window = max(rows, cols)  # as the spaces write global pooling: one window, one output
        return Layer(LayerKind.POOL, channels, channels, 1, 1, window, window, rows, cols,
                     bias=False, name=node_name(node))  # fmt: skip
    if any(d != 1 for d in _ints(node, "dilations", [1])):
        raise node_error(node, "dilated pooling is not supported")
    kernel = _square(node, "kernel", tuple(_ints(node, "kernel_shape", [])))
    stride = _square(node, "stride", tuple(_ints(node, "strides", [1, 1])))
    return Layer(LayerKind.POOL, channels, channels, out_rows, out_cols, kernel, stride, rows,
                 cols, bias=False, name=node_name(node))  # fmt: skip


def _global_reduce(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    """ReduceMean / ReduceMax over rows and columns (how exporters write global pooling)."""
    dims = graph.shape(node.input[0], node, 4)
    out = graph.shape(node.output[0], node)
    if out not in ((dims[0], dims[1], 1, 1), (dims[0], dims[1])):
        raise node_error(node, "reduces other axes than rows and columns")
    window = max(dims[2], dims[3])
    return Layer(LayerKind.POOL, dims[1], dims[1], 1, 1, window, window, dims[2], dims[3],
                 bias=False, name=node_name(node))  # fmt: skip


def _add(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if node.op_type != "Add":
        raise node_error(node, "combines two activations; only Add and Concat may")
    first, second = (graph.shape(name, node) for name in data)
    if first != second or len(first) not in (2, 4):
        shapes = f"{shape_text(first)} and {shape_text(second)}"
        raise node_error(node, f"adds shapes {shapes} (equal needed)")
    _, channels, *size = first
    rows, cols = size or (1, 1)
    return Layer(LayerKind.ADD, channels, channels, rows, cols, bias=False, name=node_name(node))


def _concat(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if len(data) != len(node.input):
        raise node_error(node, "concatenates activations with constants")
    out = graph.shape(node.output[0], node, 4)
    axis = _ints(node, "axis", [1])[0]
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
    "Add": _add,
    "Sub": _add,
    "Mul": _add,
    "Div": _add,
    "Concat": _concat,
    "Resize": _resize,
    "Upsample": _resize,
}


def _ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
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
        raise node_error(node, f"{what} {shape_text(sizes)} is not supported (square 2-D only)")
    return sizes[0]


def node_name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def node_error(node: onnx.NodeProto, message: str) -> OnnxImportError:
    return OnnxImportError(f"node {node_name(node)!r} ({node.op_type}): {message}")


def shape_text(dims: Sequence[Any]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "(none)"
