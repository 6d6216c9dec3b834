"""ONNX graphs as workloads: what `coexplore estimate model.onnx` reads (docs/onnx-import.md).

Uses the `onnx` package only (never torch) and never loads weights: shapes come from the graph
(initializer dimensions) and ONNX shape inference, so a graph saved without its weight data
reads the same as one with them.

Only nodes that reach a graph output count (a board never runs the others). The data path is
followed from the single image input. A node with no activation at its data positions (shape
arithmetic, zero biases built from weight shapes, constants) is skipped whatever its op; a node
on the data path becomes a workload layer (Conv, Gemm/MatMul, pooling, LayerNorm, Concat,
Resize, and the element-wise layers of `elementwise`: act, add, scale), or is fused (BatchNorm,
ReLU, clipping, scaling by constants) or ignored (Flatten, Reshape, Dropout, the channels-last
Transpose pair). Anything else on the data path is a one-line `OnnxImportError` naming the node
and its op, and so is a shape that shape inference cannot make static.
"""

from __future__ import annotations

import math
from pathlib import Path

import onnx

from coexplore.onnx_import import elementwise
from coexplore.onnx_import.ops import (
    ANY_LAYOUT,
    BUILDERS,
    DATA_POSITIONS,
    FUSED,
    IGNORED,
    METADATA,
    SCALING,
    TABLES,
    WITH_WEIGHTS,
    Function,
    Graph,
    OnnxImportError,
    node_error,
    shape_text,
)
from coexplore.onnx_import.shapes import image_index, image_shape, inferred_shapes, with_input_shape
from coexplore.workload import Layer, Workload

__all__ = ["OnnxImportError", "load_onnx_workload", "onnx_workload"]


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
    model = with_input_shape(model, input_shape)
    shape = image_shape(model)
    image = model.graph.input[image_index(model)].name
    path = _image_path(model, image)  # checked before shape inference: its errors are vaguer
    graph = Graph(inferred_shapes(model), {image: None}, functions={image: Function(image)})
    for node, data in path:
        _visit(graph, node, data)
    for output in model.graph.output:  # an output still pending (a closing sigmoid) is placed
        if output.name in graph.functions:
            elementwise.place(graph, output.name)
    if not graph.layers:
        raise OnnxImportError("no compute layer (Conv, Gemm, MatMul, pooling) on the image path")
    layers = [
        Layer(**{**vars(layer), "batchnorm": True}) if i in graph.batchnorm else layer
        for i, layer in enumerate(graph.layers)
    ]
    return Workload(tuple(layers), shape, tuple(graph.skips), name or model.graph.name)


KNOWN = frozenset(BUILDERS) | FUSED | IGNORED | SCALING | TABLES | {"Transpose"}
ATTENTION = "{op} of two activations: attention is not something the tiled convolution engine runs"


def _image_path(model: onnx.ModelProto, image: str) -> list[tuple[onnx.NodeProto, list[str]]]:
    """The live nodes that read activations, with the inputs they read them at.

    A node with no activation at its data positions (a zero bias built from a weight's shape,
    shape arithmetic) is not on the path, whatever its op, and neither is a node whose outputs
    reach no graph output. Refuses unknown ops; attention first, wherever it is, since it is
    what decides whether the network can run at all.
    """
    activations, path, unknown = {image}, [], None
    for node in _live_nodes(model):
        positions = DATA_POSITIONS.get(node.op_type, range(len(node.input)))
        data = [node.input[i] for i in positions if i < len(node.input)]
        data = [name for name in data if name in activations]
        if not data:
            continue
        if node.domain not in ("", "ai.onnx"):
            raise node_error(node, f"op domain {node.domain!r} is not supported")
        if node.op_type in METADATA:
            continue
        if node.op_type in ("MatMul", "Gemm") and len(data) > 1:
            raise node_error(node, ATTENTION.format(op=node.op_type))
        if node.op_type not in KNOWN:
            unknown = unknown or node_error(
                node, "op not supported (docs/onnx-import.md lists the ones that are)"
            )
        wanted = 2 if node.op_type in WITH_WEIGHTS else 1  # with their weights
        if len(node.input) < wanted or not node.output or not node.output[0]:
            raise node_error(node, f"needs {wanted} input(s) and an output")
        activations.update(name for name in node.output if name)  # a Split's every part
        path.append((node, data))
    if unknown is not None:
        raise unknown
    return path


def _live_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The nodes, in graph order, with an output that a graph output depends on."""
    needed = {output.name for output in model.graph.output}
    live = []
    for node in reversed(model.graph.node):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1]


CHANNELS_LAST_READER = (
    "reads a channels-last tensor (after a Transpose): only LayerNorm, MatMul by weights and "
    "element-wise ops may"
)


def _visit(graph: Graph, node: onnx.NodeProto, data: list[str]) -> None:
    op = node.op_type
    if op in BUILDERS and op not in ANY_LAYOUT and graph.channels_last & set(data):
        raise node_error(node, CHANNELS_LAST_READER)
    try:
        if op in BUILDERS:
            inputs = [elementwise.place(graph, name) for name in data]
            _append(graph, node, BUILDERS[op](graph, node, data), inputs)
        elif len(data) == 1:
            if op in IGNORED - {"Pad"}:
                _check_same_size(graph, node, data[0])
            elementwise.unary(graph, node, data[0])
        elif op in SCALING:
            placed = elementwise.binary(graph, node, data)
            if placed is not None:
                _append(graph, node, *placed)
        else:
            raise node_error(node, elementwise.COMBINES.format(op=op))
    except ValueError as exc:  # a Layer refused its sizes (a zero or negative dimension)
        if isinstance(exc, OnnxImportError):
            raise
        raise node_error(node, str(exc)) from None


def _append(graph: Graph, node: onnx.NodeProto, layer: Layer, inputs: list[int | None]) -> None:
    elementwise.append(graph, node, layer, inputs, node.output[0])
    if graph.channels_last.intersection(node.input):  # LayerNorm, MatMul, Add keep the layout
        graph.channels_last.add(node.output[0])


def _check_same_size(graph: Graph, node: onnx.NodeProto, tensor: str) -> None:
    """A layout op keeps the element count: a size baked into a Reshape must still fit."""
    before, after = graph.shapes.get(tensor) or (None,), graph.shapes.get(node.output[0]) or (None,)
    if None in before or None in after:
        return  # unknown here; a layer reading it will say so
    if math.prod(d or 0 for d in before) != math.prod(d or 0 for d in after):
        change = f"turns {shape_text(before)} into {shape_text(after)}"
        raise node_error(node, f"{change}: a size fixed in the graph that does not fit this input")
