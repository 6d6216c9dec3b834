"""An ONNX model with its weights as an engine net (`coexplore.hardware.engine.net.EngineNet`):
what `coexplore estimate model.onnx --hls DIR` exports (docs/onnx-import.md, "Weights").

Torch-free (onnx and numpy). The graph is read as the workload reader reads it (the same image
input, batch 1, optional new input size and shape inference, `coexplore.onnx_import.shapes`),
and every op on the image path becomes one engine op in node order, so the engine net's
workload is the reader's layer for layer (`load_onnx_workload`):

- Conv (full or depthwise; square kernel, stride and symmetric padding, dilation 1), Gemm and
  MatMul with a weight (an fc over the flattened input), MaxPool / AveragePool (floor mode),
  GlobalAveragePool and ReduceMean over rows and columns, GlobalMaxPool and ReduceMax over a
  square map, Add / Sum of activations, Concat on channels, Resize / Upsample (nearest,
  integer factor) are ops;
- Relu is a step; BatchNormalization and Add / Sub / Mul / Div with a per-channel or scalar
  constant are an affine step, folded into the conv or fc before when nothing else reads its
  result; steps join the op before as post steps when every reader of its result reads them,
  else the single-input ops after as pre steps;
- Flatten, Reshape (to batch x features), Dropout, Identity and Cast change nothing.

Anything else on the image path (Clip, Sigmoid, a product of activations, ...) is one
`OnnxImportError` naming the node: the engine's arithmetic (docs/fixed-point.md) has no
definition for it yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    Relu,
    Shape,
    Step,
    window_out,
)
from coexplore.onnx_import.ops import OnnxImportError, node_error, node_name
from coexplore.onnx_import.shapes import image_index, image_shape, inferred_shapes, with_input_shape

PASS_THROUGH = frozenset({"Flatten", "Reshape", "Dropout", "Identity", "Cast"})
CONSTANT_MATH = frozenset({"Add", "Sub", "Mul", "Div"})


@dataclass(frozen=True)
class Value:
    """An activation: the op (or INPUT) that made it, its shape, steps not yet placed."""

    producer: int
    shape: Shape
    steps: tuple[Step, ...] = ()
    flat: bool = False
    sole: bool = False  # the producer's result reaches only this tensor (a fold may change it)


@dataclass
class Draft:
    """An engine op being built: EngineOp's fields, and the values it reads."""

    fields: dict[str, Any]
    reads: list[Value]
    post: list[Step] = field(default_factory=list)


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
    if not reader.drafts:
        raise OnnxImportError("no compute layer on the image path")
    output = reader.values.get(model.graph.output[0].name)
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
        data = [self.values[name] for name in node.input if name in self.values]
        if not data:
            return  # shape arithmetic or constants: not on the image path
        handler = _HANDLERS.get(node.op_type)
        if handler is None:
            raise node_error(node, "not an engine layer or step (docs/onnx-import.md)")
        value = handler(self, node, data)
        sole = value.sole and self.readers.get(node.output[0], 0) == 1
        self.values[node.output[0]] = replace(value, sole=sole)

    def constant(self, node: onnx.NodeProto, position: int) -> np.ndarray:
        name = node.input[position] if position < len(node.input) else ""
        if name not in self.constants:
            raise node_error(node, f"input {position} must be a constant (an initializer)")
        return self.constants[name]

    def out_shape(self, node: onnx.NodeProto) -> Shape:
        dims = self.shapes.get(node.output[0]) or ()
        if len(dims) not in (2, 4) or None in dims:
            raise node_error(node, f"its output has no static N x C x H x W shape: {dims}")
        return (
            (int(dims[1]), int(dims[2]), int(dims[3])) if len(dims) == 4 else (int(dims[1]), 1, 1)
        )

    def add_op(self, node: onnx.NodeProto, reads: list[Value], **fields: Any) -> Value:
        fields.setdefault("out_shape", self.out_shape(node))
        fields.setdefault("in_shape", reads[0].shape)
        self.drafts.append(Draft({**fields, "name": node_name(node)}, reads))
        return Value(len(self.drafts) - 1, fields["out_shape"], sole=True)

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
        return Value(value.producer, value.shape, (*value.steps, step), value.flat)


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


def _ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
    return default


def _text(node: onnx.NodeProto, name: str, default: str) -> str:
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else str(value)
    return default


def _window(node: onnx.NodeProto, value: Value, out: Shape, kernel: int) -> dict[str, int]:
    """Kernel, stride and symmetric padding of a conv or pool, checked against the output."""
    strides = _ints(node, "strides", [1, 1])
    if any(d != 1 for d in _ints(node, "dilations", [1])) or len(set(strides)) != 1:
        raise node_error(node, "only square strides and dilation 1 run on the engine")
    if _ints(node, "ceil_mode", [0])[0]:
        raise node_error(node, "ceil_mode 1 is not supported (the engine rounds down)")
    stride, (rows, cols) = strides[0], value.shape[1:]
    pads = _ints(node, "pads", [0, 0, 0, 0])
    if _text(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        total = (out[1] - 1) * stride + kernel - rows
        pads = [total // 2] * 4 if total % 2 == 0 and total >= 0 else [-1, 0, 0, 0]
    if len(set(pads)) != 1:
        raise node_error(node, f"padding {pads} is not the same on every side")
    padding = pads[0]
    if (
        window_out(rows, kernel, stride, padding),
        window_out(cols, kernel, stride, padding),
    ) != out[1:]:
        raise node_error(node, f"output {out} is not what a floor-mode window gives")
    return {"kernel": kernel, "stride": stride, "padding": padding}


def _conv(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    weight = reader.constant(node, 1)
    out = reader.out_shape(node)
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise node_error(node, f"kernel {weight.shape[2:]} is not square")
    bias = reader.constant(node, 2) if len(node.input) > 2 and node.input[2] else None
    groups = _ints(node, "group", [1])[0]
    if groups != 1 and not groups == value.shape[0] == out[0]:
        raise node_error(node, f"a conv of {groups} groups (the engine runs full or depthwise)")
    fields = _window(node, value, out, int(weight.shape[2]))
    return reader.add_op(node, [value], kind=OpKind.CONV, weight=weight, bias=bias,
                         groups=groups, out_shape=out, **fields)  # fmt: skip


def _gemm(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    if len(data) != 1 or node.input[0] not in reader.values:
        raise node_error(node, "multiplies two activations; only activation x weights runs")
    (value,) = data
    weight = reader.constant(node, 1)
    if node.op_type == "MatMul" or not _ints(node, "transB", [0])[0]:
        weight = weight.T
    if _ints(node, "transA", [0])[0] or weight.ndim != 2:
        raise node_error(node, "needs a rank-2 weight and transA = 0")
    alpha = _float(node, "alpha", 1.0)
    bias = None
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        bias = np.broadcast_to(
            reader.constant(node, 2) * _float(node, "beta", 1.0), weight.shape[:1]
        )
    features = int(np.prod(value.shape))
    if weight.shape[1] != features:
        raise node_error(node, f"weights {weight.shape} do not take {features} features")
    return reader.add_op(node, [value], kind=OpKind.FC, weight=weight * alpha,
                         bias=None if bias is None else np.array(bias),
                         out_shape=(int(weight.shape[0]), 1, 1))  # fmt: skip


def _float(node: onnx.NodeProto, name: str, default: float) -> float:
    for attribute in node.attribute:
        if attribute.name == name:
            return float(onnx.helper.get_attribute_value(attribute))
    return default


def _pool(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    out = reader.out_shape(node)
    channels, rows, cols = value.shape
    if node.op_type in ("GlobalAveragePool", "ReduceMean", "GlobalMaxPool", "ReduceMax"):
        _check_global(node, reader, out, channels)
        if node.op_type in ("GlobalAveragePool", "ReduceMean"):
            return reader.add_op(
                node, [value], kind=OpKind.GLOBAL_AVG_POOL, out_shape=(channels, 1, 1)
            )
        if rows != cols:
            raise node_error(node, f"a global max pool over a {rows} x {cols} map (square only)")
        return reader.add_op(node, [value], kind=OpKind.MAX_POOL, kernel=rows, stride=rows,
                             out_shape=(channels, 1, 1))  # fmt: skip
    kernel = _ints(node, "kernel_shape", [])
    if len(kernel) != 2 or kernel[0] != kernel[1]:
        raise node_error(node, f"kernel {kernel} is not square")
    fields = _window(node, value, out, kernel[0])
    kind = OpKind.MAX_POOL if node.op_type == "MaxPool" else OpKind.AVG_POOL
    include = bool(_ints(node, "count_include_pad", [0])[0]) and kind is OpKind.AVG_POOL
    return reader.add_op(node, [value], kind=kind, count_include_pad=include, **fields)


def _check_global(node: onnx.NodeProto, reader: _Reader, out: Shape, channels: int) -> None:
    if out != (channels, 1, 1):
        raise node_error(node, "reduces other axes than rows and columns")
    if node.op_type.startswith("Reduce") and len(node.input) > 1:
        axes = sorted(int(a) % 4 for a in reader.constant(node, 1).reshape(-1))
        if axes != [2, 3]:
            raise node_error(node, f"reduces axes {axes}; only rows and columns (2, 3) run")


def _combine(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """Add / Sum of activations, or an affine step for an operation with a constant."""
    if len(data) == 1 and node.op_type in CONSTANT_MATH:
        return reader.step(data[0], _constant_affine(reader, node, data[0]))
    if node.op_type not in ("Add", "Sum") or len(data) != len(node.input):
        raise node_error(node, "combines activations other than by adding them")
    if len({v.shape for v in data}) != 1:
        raise node_error(node, f"adds shapes {[v.shape for v in data]} (equal needed)")
    return reader.add_op(node, data, kind=OpKind.ADD, out_shape=data[0].shape)


def _constant_affine(reader: _Reader, node: onnx.NodeProto, value: Value) -> Affine:
    position = 1 if node.input[0] in reader.values else 0
    constant = reader.constant(node, position)
    channels = value.shape[0]
    per_channel = _per_channel(node, constant, channels)
    ones = np.ones(channels)
    if node.op_type == "Mul":
        return Affine(per_channel, np.zeros(channels))
    if node.op_type == "Div" and position == 1:
        return Affine(1.0 / per_channel, np.zeros(channels))
    if node.op_type == "Add":
        return Affine(ones, per_channel)
    if node.op_type == "Sub":
        return Affine(ones, -per_channel) if position == 1 else Affine(-ones, per_channel)
    raise node_error(node, "divides a constant by an activation")


def _per_channel(node: onnx.NodeProto, constant: np.ndarray, channels: int) -> np.ndarray:
    """A scalar or one value per channel (shapes (), (C,), (C, 1, 1), (1, C, 1, 1), (1, C))."""
    squeezed = constant.reshape(-1) if constant.size in (1, channels) else None
    trailing = constant.shape[-2:] if constant.ndim >= 3 else (1, 1)
    if squeezed is None or (constant.ndim >= 3 and trailing != (1, 1)):
        raise node_error(
            node, f"a constant of shape {constant.shape}: one value per channel needed"
        )
    return np.broadcast_to(squeezed, (channels,)).astype(np.float64)


def _concat(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    if len(data) != len(node.input) or _ints(node, "axis", [1])[0] not in (1, -3):
        raise node_error(node, "concatenates other than activations on channels")
    out = reader.out_shape(node)
    return reader.add_op(node, data, kind=OpKind.CONCAT, in_shape=out, out_shape=out)


def _resize(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    out = reader.out_shape(node)
    factor = out[1] // value.shape[1]
    if _text(node, "mode", "nearest") != "nearest" or out != (
        value.shape[0],
        *(d * factor for d in value.shape[1:]),
    ):
        raise node_error(node, "only nearest-neighbour upsampling by one integer factor runs")
    return reader.add_op(node, [value], kind=OpKind.UPSAMPLE, out_shape=out)


def _relu(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    return reader.step(data[0], Relu())


def _batchnorm(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    gamma, beta, mean, var = (reader.constant(node, i) for i in range(1, 5))
    scale = gamma / np.sqrt(var + _float(node, "epsilon", 1e-5))
    return reader.step(data[0], Affine(scale, beta - mean * scale))


def _pass(reader: _Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    flat = value.flat or node.op_type in ("Flatten", "Reshape")
    if node.op_type == "Reshape" and len(reader.shapes.get(node.output[0]) or ()) not in (2, 4):
        raise node_error(node, "reshapes to other than batch x features")
    return Value(value.producer, value.shape, value.steps, flat, value.sole)


_HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _gemm,
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _pool, "GlobalMaxPool": _pool,
    "ReduceMean": _pool, "ReduceMax": _pool,
    "Add": _combine, "Sum": _combine, "Sub": _combine, "Mul": _combine, "Div": _combine,
    "Concat": _concat, "Resize": _resize, "Upsample": _resize,
    "Relu": _relu, "BatchNormalization": _batchnorm,
    **dict.fromkeys(PASS_THROUGH, _pass),
}  # fmt: skip


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
