"""An ONNX model with its weights as an engine net (`coexplore.hardware.engine.net.EngineNet`):
what `coexplore estimate model.onnx --hls DIR` exports (docs/hls.md).

Torch-free (onnx and numpy). The graph is read as the workload reader reads it (the same image
input, batch 1, optional new input size and shape inference, `coexplore.onnx_import.shapes`),
and every op on the image path becomes one engine op in node order, so the engine net's
workload is the reader's layer for layer (`load_onnx_workload`):

- Conv (full or depthwise; any Kh x Kw kernel, one stride, padding equal above and below and
  left and right, dilation 1), Gemm and MatMul with a weight (an fc over the flattened input;
  a 1 x 1 conv on a channels-last map), MaxPool / AveragePool (floor mode, any window),
  GlobalAveragePool and ReduceMean over rows and columns, GlobalMaxPool and ReduceMax over a
  square map, Add / Sum of activations, Concat on channels, Resize / Upsample (nearest,
  integer factor), LayerNormalization over the channels (of a channels-last map, between the
  Transpose pair, or of a vector) are ops;
- element-wise functions (Sigmoid, Tanh, Gelu, HardSwish, and chains of them with constants,
  Clip and products of one value, as SiLU's Sigmoid + Mul or GELU's erf) are one `act` op
  each, placed when a layer reads them, named by what they compute (`engine_functions`); a
  map times a gate of one value per channel is a `scale` op (squeeze-and-excitation), its
  gate's sigmoid or tanh applied by the scale;
- Relu and HardSigmoid (relu6(x + 3) / 6) are steps; BatchNormalization and Add / Sub / Mul /
  Div with a per-channel or scalar constant are an affine step, folded into the conv or fc
  before when nothing else reads its result; steps join the op before as post steps when
  every reader of its result reads them, else the single-input ops after as pre steps;
- Flatten, Reshape (to batch x features), Dropout, Identity, Cast and the channels-last
  Transpose pair change nothing.

Anything else on the image path (a Clip alone, Softplus, a product of two maps, attention,
...) is one `OnnxImportError` naming the node and why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from coexplore.hardware.engine.net import (
    INPUT,
    Affine,
    EngineNet,
    EngineOp,
    OpKind,
    Shape,
    Step,
)
from coexplore.onnx_import.engine_functions import identify
from coexplore.onnx_import.engine_nodes import CHANNELS_FIRST_ONLY, HANDLERS, LAYERS, Draft, Value
from coexplore.onnx_import.ops import OnnxImportError, node_error, node_name
from coexplore.onnx_import.shapes import image_index, image_shape, inferred_shapes, with_input_shape


def load_onnx_engine_net(path: Path, input_shape: Shape | None = None) -> EngineNet:
    """An .onnx file with its weights (external data beside it too) as an engine net;
    OnnxImportError naming the file on bad input or missing weights."""
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise OnnxImportError(f"{path}: no such file") from None
    except Exception as exc:  # onnx's checker: weights saved elsewhere and not found
        raise OnnxImportError(
            f"{path}: its weights cannot be read ({_first_line(exc)}); a graph saved without "
            "its weights has none to export"
        ) from None
    try:
        return onnx_engine_net(model, input_shape, name=Path(path).stem)
    except OnnxImportError as exc:
        raise OnnxImportError(f"{path}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def onnx_engine_net(
    model: onnx.ModelProto, input_shape: Shape | None = None, name: str = ""
) -> EngineNet:
    """The engine net of an ONNX model with one image input and its weights."""
    model = with_input_shape(model, input_shape)
    shape = image_shape(model)
    reader = _Reader(model, inferred_shapes(model))
    image = model.graph.input[image_index(model)].name
    reader.values[image] = Value(INPUT, shape)
    for node in model.graph.node:
        reader.visit(node)
    output_name = model.graph.output[0].name
    output = reader.place(output_name) if output_name in reader.values else None
    if not reader.drafts:
        raise OnnxImportError("no compute layer on the image path")
    if output is None or output.producer != len(reader.drafts) - 1:
        raise OnnxImportError("the graph's output is not the result of its last layer")
    return EngineNet(shape, tuple(_resolve(reader.drafts, output)), name or model.graph.name)


class _Reader:
    def __init__(self, model: onnx.ModelProto, shapes: dict[str, Any]) -> None:
        self.shapes = shapes
        self.constants = {t.name: _array(t) for t in model.graph.initializer}
        self.values: dict[str, Value] = {}
        self.drafts: list[Draft] = []
        self.readers = _reader_counts(model)

    def visit(self, node: onnx.NodeProto) -> None:
        if node.op_type == "Constant" and node.output:
            self.constants[node.output[0]] = _constant(node)
            return
        names = [name for name in node.input if name in self.values]
        if not names:
            return  # shape arithmetic or constants: not on the image path
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise node_error(node, "not an engine layer or step (docs/onnx-import.md)")
        layer = node.op_type in LAYERS  # reads its inputs as they are: chains become act ops
        data = [self.place(name) if layer else self.values[name] for name in names]
        if node.op_type in CHANNELS_FIRST_ONLY and any(v.last for v in data):
            raise node_error(node, "reads a channels-last map (after a Transpose)")
        value = handler(self, node, data)
        sole = value.sole and self.readers.get(node.output[0], 0) == 1
        self.values[node.output[0]] = replace(value, sole=sole)

    def constant(self, node: onnx.NodeProto, position: int) -> np.ndarray:
        name = node.input[position] if position < len(node.input) else ""
        if name not in self.constants:
            raise node_error(node, f"input {position} must be a constant (an initializer)")
        return self.constants[name]

    def out_shape(self, node: onnx.NodeProto, last: bool = False) -> Shape:
        """(channels, rows, cols) of the node's output: N x C x H x W, N x H x W x C when
        channels-last, or N x C (a vector: C x 1 x 1)."""
        dims = list(self.shapes.get(node.output[0]) or ())
        if len(dims) not in (2, 4) or None in dims:
            raise node_error(node, f"its output has no static N x C x H x W shape: {dims}")
        if last and len(dims) == 4:
            dims = [dims[0], dims[3], dims[1], dims[2]]
        channels, rows, cols = [*dims[1:], 1, 1][:3]
        return int(channels), int(rows), int(cols)

    def add_op(
        self, node: onnx.NodeProto, reads: list[Value], name: str = "", **fields: Any
    ) -> Value:
        last = any(v.last for v in reads)
        fields.setdefault("out_shape", self.out_shape(node, last))
        fields.setdefault("in_shape", reads[0].shape)
        self.drafts.append(Draft({**fields, "name": name or node_name(node)}, reads))
        return Value(len(self.drafts) - 1, fields["out_shape"], sole=True, last=last)

    def place(self, tensor: str) -> Value:
        """The value of `tensor` as a layer reads it: a pending element-wise chain becomes
        its `act` op first (once: later readers read that op)."""
        value = self.values[tensor]
        if value.expr is None:
            return value
        expr = value.expr
        if not expr.needs_layer:
            raise OnnxImportError(
                f"node {expr.label}: a clip the engine cannot apply (it has ReLU and "
                "hard-sigmoid steps, and act layers for sigmoid, tanh, SiLU, GELU, hard-swish)"
            )
        function = identify(expr)
        if function is None:
            raise OnnxImportError(
                f"node {expr.label}: computes {expr.workload_name}, which is none of the "
                "engine's functions (sigmoid, tanh, SiLU, GELU, hard-swish)"
            )
        base = replace(value, expr=None, flat=False, sole=False)
        self.drafts.append(Draft({"kind": OpKind.ACT, "in_shape": value.shape,
                                  "out_shape": value.shape, "function": function,
                                  "name": expr.maker}, [base]))  # fmt: skip
        placed = Value(len(self.drafts) - 1, value.shape, (), value.flat,
                       sole=self.readers.get(tensor, 0) == 1, last=value.last)  # fmt: skip
        self.values[tensor] = placed
        return placed

    def step(self, value: Value, step: Step) -> Value:
        """Append a step, or fold an affine one into the conv or fc that made the value when
        nothing else reads its result."""
        producer = self.drafts[value.producer] if value.producer >= 0 else None
        if (
            isinstance(step, Affine)
            and producer is not None
            and value.sole
            and not value.steps
            and producer.fields["kind"] in (OpKind.CONV, OpKind.FC)
        ):
            _fold(producer, step)
            return value
        return replace(value, steps=(*value.steps, step))


def _reader_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            counts[name] = counts.get(name, 0) + 1
    for output in model.graph.output:
        counts[output.name] = counts.get(output.name, 0) + 1
    return counts


def _array(tensor: onnx.TensorProto) -> np.ndarray:
    return np.asarray(numpy_helper.to_array(tensor), dtype=np.float64)


def _constant(node: onnx.NodeProto) -> np.ndarray:
    for attribute in node.attribute:
        if attribute.name == "value":
            return _array(attribute.t)
    raise node_error(node, "a Constant other than a tensor value")


def _fold(draft: Draft, step: Affine) -> None:
    """w' = w * s, b' = b * s + t per output channel (a batch norm or constant after it)."""
    weight = draft.fields["weight"]
    scale = step.scale.reshape(-1, *([1] * (weight.ndim - 1)))
    draft.fields["weight"] = weight * scale
    bias = draft.fields.get("bias")
    draft.fields["bias"] = (
        np.zeros(len(step.scale)) if bias is None else bias
    ) * step.scale + step.shift


def _resolve(drafts: list[Draft], output: Value) -> list[EngineOp]:
    """Place the pending steps: post steps of the producer when every reader of its result
    reads the same steps, else pre steps of each (single-input) reader."""
    readers: dict[int, list[tuple[int, int, Value]]] = {}
    for index, draft in enumerate(drafts):
        for position, value in enumerate(draft.reads):
            readers.setdefault(value.producer, []).append((index, position, value))
    readers.setdefault(output.producer, []).append((-1, 0, output))
    pre: dict[int, tuple[Step, ...]] = {}
    for producer, reads in readers.items():
        chains = {tuple(id(s) for s in value.steps) for _, _, value in reads}
        steps = reads[0][2].steps
        if len(chains) == 1 and producer >= 0 and steps:
            drafts[producer].post.extend(steps)
            continue
        for index, _, value in reads:
            if value.steps:
                _pre_steps(drafts, index, value, pre)
    return [
        EngineOp(
            **d.fields,
            inputs=tuple(v.producer for v in d.reads),
            pre=pre.get(i, ()),
            post=tuple(d.post),
        )
        for i, d in enumerate(drafts)
    ]


def _pre_steps(
    drafts: list[Draft], index: int, value: Value, pre: dict[int, tuple[Step, ...]]
) -> None:
    name = drafts[index].fields["name"] if index >= 0 else "the output"
    if index < 0 or len(drafts[index].reads) > 1:
        raise OnnxImportError(
            f"node {name!r}: reads a value through element-wise steps that other readers of "
            "it do not take; the engine applies such steps only before single-input layers"
        )
    pre[index] = value.steps
