"""ONNX graphs as workloads: what `coexplore estimate model.onnx` reads (docs/onnx-import.md).

Uses the `onnx` package only (never torch) and never loads weights: shapes come from the graph
(initializer dimensions) and ONNX shape inference, so a graph saved without its weight data
reads the same as one with them.

The data path is followed from the single image input. A node with no activation at its data
positions (shape arithmetic, zero biases built from weight shapes, constants) is skipped
whatever its op; a node on the data path becomes a workload layer (Conv, Gemm/MatMul, pooling,
Add, Concat, Resize), or is fused (BatchNorm, activations, scaling by constants) or ignored
(Flatten, Reshape, Dropout). Anything else on the data path is a one-line `OnnxImportError`
naming the node and its op, and so is a shape that shape inference cannot make static.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from coexplore.workload import Layer, LayerKind, Workload

Dims = tuple[int | None, ...]  # None: a dimension shape inference left symbolic or unknown


class OnnxImportError(ValueError):
    """The graph cannot be read as a workload; the message names the node and the op.

    Always one line: names taken from the file are shown with their control characters escaped.
    """

    def __init__(self, message: str) -> None:
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in message))


# Fused into the producing layer or free on the engine (SPEC §3: BN folds, ReLU is fused).
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
class _Graph:
    """The walk's state: shapes of all tensors, which layer produced each activation."""

    shapes: dict[str, Dims]
    producer: dict[str, int | None]  # activation tensor -> layer index (None: the image input)
    layers: list[Layer] = field(default_factory=list)
    skips: list[tuple[int, int]] = field(default_factory=list)
    batchnorm: set[int] = field(default_factory=set)

    def shape(self, name: str, node: onnx.NodeProto, rank: int | None = None) -> tuple[int, ...]:
        dims = self.shapes.get(name)
        if dims is None or None in dims or (rank is not None and len(dims) != rank):
            shown = (
                "unknown" if dims is None else "x".join("?" if d is None else str(d) for d in dims)
            )
            need = f" (a rank-{rank} tensor is needed)" if rank is not None and dims else ""
            raise _node_error(node, f"tensor {name!r} has no static shape: {shown}{need}")
        return tuple(d for d in dims if d is not None)


def load_onnx_workload(path: Path, input_shape: tuple[int, int, int] | None = None) -> Workload:
    """Read an .onnx file (weights not loaded); OnnxImportError naming the file on bad input."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise OnnxImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise OnnxImportError(f"{path}: is a folder, not an ONNX file") from None
    except Exception as exc:  # protobuf decoding of untrusted bytes: any failure means "not ONNX"
        raise OnnxImportError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    try:
        return onnx_workload(model, input_shape, name=Path(path).stem)
    except OnnxImportError as exc:
        raise OnnxImportError(f"{path}: {exc}") from None


def onnx_workload(
    model: onnx.ModelProto, input_shape: tuple[int, int, int] | None = None, name: str = ""
) -> Workload:
    """The workload of an ONNX model with one image input (batch, channels, rows, cols)."""
    if not model.graph.node:
        raise OnnxImportError("no graph nodes (an empty file, or not an ONNX model)")
    model = _with_input_shape(model, input_shape)
    shape = _image_shape(model)
    image = model.graph.input[_image_index(model)].name
    path = _image_path(model, image)  # checked before shape inference: its errors are vaguer
    graph = _Graph(_inferred_shapes(model), {image: None})
    for node, data in path:
        _visit(graph, node, data)
    if not graph.layers:
        raise OnnxImportError("no compute layer (Conv, Gemm, MatMul, pooling) on the image path")
    layers = [
        Layer(**{**vars(layer), "batchnorm": True}) if i in graph.batchnorm else layer
        for i, layer in enumerate(graph.layers)
    ]
    return Workload(tuple(layers), shape, tuple(graph.skips), name or model.graph.name)


def _image_path(model: onnx.ModelProto, image: str) -> list[tuple[onnx.NodeProto, list[str]]]:
    """The nodes that read activations, with the inputs they read them at; refuses unknown ops.

    A node with no activation at its data positions (a zero bias built from a weight's shape,
    shape arithmetic) is not on the path, whatever its op.
    """
    activations, path = {image}, []
    for node in model.graph.node:
        positions = DATA_POSITIONS.get(node.op_type, range(len(node.input)))
        data = [node.input[i] for i in positions if i < len(node.input)]
        data = [name for name in data if name in activations]
        if not data:
            continue
        if node.domain not in ("", "ai.onnx"):
            raise _node_error(node, f"op domain {node.domain!r} is not supported")
        if node.op_type in METADATA:
            continue
        if not _passes_through(node.op_type, data) and node.op_type not in BUILDERS:
            raise _node_error(
                node, "op not supported (docs/onnx-import.md lists the ones that are)"
            )
        wanted = 2 if node.op_type in ("Conv", "Gemm", "MatMul") else 1  # with their weights
        if len(node.input) < wanted or not node.output or not node.output[0]:
            raise _node_error(node, f"needs {wanted} input(s) and an output")
        activations.add(node.output[0])
        path.append((node, data))
    return path


def _passes_through(op: str, data: list[str]) -> bool:
    return op in FUSED or op in IGNORED or (op in SCALING and len(data) == 1)


def _visit(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> None:
    if _passes_through(node.op_type, data):
        if len(data) > 1:
            raise _node_error(node, "combines two activations; only Add and Concat may")
        if node.op_type == "BatchNormalization":
            _fold_batchnorm(graph, data[0])
        if node.op_type in IGNORED - {"Pad"}:
            _check_same_size(graph, node, data[0])
        graph.producer[node.output[0]] = graph.producer[data[0]]
        return
    try:
        layer = BUILDERS[node.op_type](graph, node, data)
    except OnnxImportError:
        raise
    except ValueError as exc:  # a Layer refused its sizes (a zero or negative dimension)
        raise _node_error(node, str(exc)) from None
    _append(graph, node, layer, [graph.producer[name] for name in data])


def _append(graph: _Graph, node: onnx.NodeProto, layer: Layer, inputs: list[int | None]) -> None:
    """Add a layer; an input other than the previous layer's output is a skip tensor."""
    index = len(graph.layers)
    previous = index - 1 if index else None  # the first layer's own input is the image
    for producer in sorted(
        {p for p in inputs if p != previous}, key=lambda p: -1 if p is None else p
    ):
        if producer is None:
            raise _node_error(node, "reads the image input, which only the first layer may read")
        graph.skips.append((producer, index))
    graph.layers.append(layer)
    graph.producer[node.output[0]] = index


def _check_same_size(graph: _Graph, node: onnx.NodeProto, tensor: str) -> None:
    """A layout op keeps the element count: a size baked into a Reshape must still fit."""
    before, after = graph.shapes.get(tensor) or (None,), graph.shapes.get(node.output[0]) or (None,)
    if None in before or None in after:
        return  # unknown here; a layer reading it will say so
    if math.prod(d or 0 for d in before) != math.prod(d or 0 for d in after):
        raise _node_error(node, f"turns {_text(before)} into {_text(after)}: a size fixed in "
                                f"the graph that does not fit this input")  # fmt: skip


def _fold_batchnorm(graph: _Graph, tensor: str) -> None:
    producer = graph.producer[tensor]
    if producer is not None and graph.layers[producer].kind in _WEIGHTED:
        graph.batchnorm.add(producer)


_WEIGHTED = (LayerKind.CONV, LayerKind.DWCONV, LayerKind.FC)


def _conv(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, n, rows, cols = graph.shape(node.input[0], node, 4)
    m, per_group, kh, kw = graph.shape(node.input[1], node, 4)
    _, _, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    kernel = _square(node, "kernel", (kh, kw))
    stride = _square(node, "stride", tuple(_ints(node, "strides", [1, 1])))
    if any(d != 1 for d in _ints(node, "dilations", [1])):
        raise _node_error(
            node, f"dilation {_ints(node, 'dilations', [])} is not supported (only 1)"
        )
    groups = _ints(node, "group", [1])[0]
    if groups < 1 or n != per_group * groups or m % groups:
        raise _node_error(node, f"{groups} groups do not divide {n} inputs into {per_group}")
    # Depthwise (N == M == groups) has its own kind; other grouped convs are a conv whose
    # outputs each read N / groups inputs (exact MACs; docs/onnx-import.md says the cost model).
    kind = LayerKind.DWCONV if groups == n == m and groups > 1 else LayerKind.CONV
    bias = len(node.input) > 2 and bool(node.input[2])
    return Layer(kind, n if kind is LayerKind.DWCONV else per_group, m, out_rows, out_cols, kernel,
                 stride, rows, cols, bias=bias, name=_name(node))  # fmt: skip


def _gemm(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if len(data) > 1 or data[0] != node.input[0]:
        raise _node_error(
            node, "multiplies two activations; only activation x weights is supported"
        )
    if _ints(node, "transA", [0])[0]:
        raise _node_error(node, "transA = 1 is not supported")
    _, features = graph.shape(node.input[0], node, 2)
    weights = graph.shape(node.input[1], node, 2)
    inputs, outputs = weights[::-1] if _ints(node, "transB", [0])[0] else weights
    if inputs != features:
        raise _node_error(node, f"weights {_text(weights)} do not take {features} features")
    bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
    return Layer(LayerKind.FC, features, outputs, 1, 1, bias=bias, name=_name(node))


def _pool(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, channels, rows, cols = graph.shape(node.input[0], node, 4)
    _, _, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    if node.op_type.startswith("Global"):
        window = max(rows, cols)  # as the spaces write global pooling: one window, one output
        return Layer(LayerKind.POOL, channels, channels, 1, 1, window, window, rows, cols,
                     bias=False, name=_name(node))  # fmt: skip
    if any(d != 1 for d in _ints(node, "dilations", [1])):
        raise _node_error(node, "dilated pooling is not supported")
    kernel = _square(node, "kernel", tuple(_ints(node, "kernel_shape", [])))
    stride = _square(node, "stride", tuple(_ints(node, "strides", [1, 1])))
    return Layer(LayerKind.POOL, channels, channels, out_rows, out_cols, kernel, stride, rows,
                 cols, bias=False, name=_name(node))  # fmt: skip


def _global_reduce(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    """ReduceMean / ReduceMax over rows and columns (how exporters write global pooling)."""
    dims = graph.shape(node.input[0], node, 4)
    out = graph.shape(node.output[0], node)
    if out not in ((dims[0], dims[1], 1, 1), (dims[0], dims[1])):
        raise _node_error(node, "reduces other axes than rows and columns")
    window = max(dims[2], dims[3])
    return Layer(LayerKind.POOL, dims[1], dims[1], 1, 1, window, window, dims[2], dims[3],
                 bias=False, name=_name(node))  # fmt: skip


def _add(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if node.op_type != "Add":
        raise _node_error(node, "combines two activations; only Add and Concat may")
    first, second = (graph.shape(name, node) for name in data)
    if first != second or len(first) not in (2, 4):
        raise _node_error(node, f"adds shapes {_text(first)} and {_text(second)} (equal needed)")
    _, channels, *size = first
    rows, cols = size or (1, 1)
    return Layer(LayerKind.ADD, channels, channels, rows, cols, bias=False, name=_name(node))


def _concat(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    if len(data) != len(node.input):
        raise _node_error(node, "concatenates activations with constants")
    out = graph.shape(node.output[0], node, 4)
    axis = _ints(node, "axis", [1])[0]
    if axis not in (1, -3):
        raise _node_error(
            node, f"concatenates on axis {axis}; only channels (axis 1) are supported"
        )
    return Layer(LayerKind.CONCAT, out[1], out[1], out[2], out[3], bias=False, name=_name(node))


def _resize(graph: _Graph, node: onnx.NodeProto, data: list[str]) -> Layer:
    _, channels, rows, cols = graph.shape(node.input[0], node, 4)
    _, out_channels, out_rows, out_cols = graph.shape(node.output[0], node, 4)
    if out_channels != channels:
        raise _node_error(node, "resizes the channel axis")
    return Layer(LayerKind.UPSAMPLE, channels, channels, out_rows, out_cols, in_rows=rows,
                 in_cols=cols, bias=False, name=_name(node))  # fmt: skip


Builder = Callable[[_Graph, onnx.NodeProto, list[str]], Layer]
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
SUPPORTED = sorted(set(BUILDERS) - SCALING | {"Add"})  # Sub/Mul/Div: with a constant only


def _with_input_shape(
    model: onnx.ModelProto, shape: tuple[int, int, int] | None
) -> onnx.ModelProto:
    """A copy whose image input is 1 x C x H x W: the batch fixed to 1, and `shape` if given.

    With a new shape, the exporter's recorded intermediate shapes are dropped (they describe the
    old one) and shape inference recomputes them.
    """
    model = _copy(model)
    image = model.graph.input[_image_index(model)]
    if not image.type.HasField("tensor_type"):
        raise OnnxImportError(f"input {image.name!r} is not a tensor")
    dims = image.type.tensor_type.shape.dim
    if shape is not None:
        if len(dims) not in (0, 4):
            raise OnnxImportError(f"input {image.name!r} has rank {len(dims)}, not 4 (N, C, H, W)")
        del dims[:]
        for value in (1, *shape):
            dims.add().dim_value = value
        del model.graph.value_info[:]
        for output in model.graph.output:
            if output.type.HasField("tensor_type"):
                output.type.tensor_type.ClearField("shape")
    elif dims and not dims[0].HasField("dim_value"):
        dims[0].Clear()
        dims[0].dim_value = 1  # a symbolic batch axis: estimates are per image
    return model


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _image_index(model: onnx.ModelProto) -> int:
    """The one graph input that is not a weight (older exporters list weights as inputs)."""
    weights = {t.name for t in model.graph.initializer}
    images = [i for i, x in enumerate(model.graph.input) if x.name not in weights]
    if len(images) != 1:
        names = ", ".join(repr(model.graph.input[i].name) for i in images) or "none"
        raise OnnxImportError(f"expected one image input, found {len(images)} ({names})")
    return images[0]


def _image_shape(model: onnx.ModelProto) -> tuple[int, int, int]:
    image = model.graph.input[_image_index(model)]
    dims = _dims(image.type)
    if len(dims) != 4 or None in dims[1:] or any(d is not None and d < 1 for d in dims):
        raise OnnxImportError(
            f"input {image.name!r} has shape {_text(dims)}: a static N x C x H x W is needed "
            f"(give --input-shape CxHxW for a dynamic one)"
        )
    return (int(dims[1] or 0), int(dims[2] or 0), int(dims[3] or 0))


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, Dims]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # C++ inference on an untrusted graph: any failure is the graph's
        raise OnnxImportError(f"shape inference failed: {_first_line(exc)}") from None
    shapes: dict[str, Dims] = {
        t.name: tuple(int(d) for d in t.dims) for t in inferred.graph.initializer
    }
    graph = inferred.graph
    for info in (*graph.input, *graph.value_info, *graph.output):
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            shapes[info.name] = _dims(info.type)
    return shapes


def _dims(type_proto: onnx.TypeProto) -> Dims:
    if not type_proto.tensor_type.HasField("shape"):
        return ()
    return tuple(
        d.dim_value if d.HasField("dim_value") else None for d in type_proto.tensor_type.shape.dim
    )


def _ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            values = value if isinstance(value, Sequence) else [value]
            if not all(isinstance(v, int) for v in values):
                raise _node_error(node, f"attribute {name} must be integers")
            return list(values) or default
    return default


def _square(node: onnx.NodeProto, what: str, sizes: tuple[int, ...]) -> int:
    if len(sizes) != 2 or sizes[0] != sizes[1] or sizes[0] < 1:
        raise _node_error(node, f"{what} {_text(sizes)} is not supported (square 2-D only)")
    return sizes[0]


def _name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def _node_error(node: onnx.NodeProto, message: str) -> OnnxImportError:
    return OnnxImportError(f"node {_name(node)!r} ({node.op_type}): {message}")


def _text(dims: Sequence[Any]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "(none)"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
