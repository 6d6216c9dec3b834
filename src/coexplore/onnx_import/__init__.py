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
from pathlib import Path

import onnx

from coexplore.onnx_import.ops import (
    BUILDERS,
    DATA_POSITIONS,
    FUSED,
    IGNORED,
    METADATA,
    SCALING,
    WEIGHTED,
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
    graph = Graph(inferred_shapes(model), {image: None})
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
            raise node_error(node, f"op domain {node.domain!r} is not supported")
        if node.op_type in METADATA:
            continue
        if not _passes_through(node.op_type, data) and node.op_type not in BUILDERS:
            raise node_error(node, "op not supported (docs/onnx-import.md lists the ones that are)")
        wanted = 2 if node.op_type in ("Conv", "Gemm", "MatMul") else 1  # with their weights
        if len(node.input) < wanted or not node.output or not node.output[0]:
            raise node_error(node, f"needs {wanted} input(s) and an output")
        activations.add(node.output[0])
        path.append((node, data))
    return path


def _passes_through(op: str, data: list[str]) -> bool:
    return op in FUSED or op in IGNORED or (op in SCALING and len(data) == 1)


def _visit(graph: Graph, node: onnx.NodeProto, data: list[str]) -> None:
    if _passes_through(node.op_type, data):
        if len(data) > 1:
            raise node_error(node, "combines two activations; only Add and Concat may")
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
        raise node_error(node, str(exc)) from None
    _append(graph, node, layer, [graph.producer[name] for name in data])


def _append(graph: Graph, node: onnx.NodeProto, layer: Layer, inputs: list[int | None]) -> None:
    """Add a layer; an input other than the previous layer's output is a skip tensor."""
    index = len(graph.layers)
    previous = index - 1 if index else None  # the first layer's own input is the image
    for producer in sorted(
        {p for p in inputs if p != previous}, key=lambda p: -1 if p is None else p
    ):
        if producer is None:
            raise node_error(node, "reads the image input, which only the first layer may read")
        graph.skips.append((producer, index))
    graph.layers.append(layer)
    graph.producer[node.output[0]] = index


def _check_same_size(graph: Graph, node: onnx.NodeProto, tensor: str) -> None:
    """A layout op keeps the element count: a size baked into a Reshape must still fit."""
    before, after = graph.shapes.get(tensor) or (None,), graph.shapes.get(node.output[0]) or (None,)
    if None in before or None in after:
        return  # unknown here; a layer reading it will say so
    if math.prod(d or 0 for d in before) != math.prod(d or 0 for d in after):
        change = f"turns {shape_text(before)} into {shape_text(after)}"
        raise node_error(node, f"{change}: a size fixed in the graph that does not fit this input")


def _fold_batchnorm(graph: Graph, tensor: str) -> None:
    producer = graph.producer[tensor]
    if producer is not None and graph.layers[producer].kind in WEIGHTED:
        graph.batchnorm.add(producer)
