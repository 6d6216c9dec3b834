"""The ONNX nodes an engine net is made of: each handler turns one node on the image path into
an engine op (through the reader's `add_op`), a step (`step`), or a value passed through
(`coexplore.onnx_import.engine` walks the graph and places the steps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import onnx

from coexplore.hardware.engine.net import Affine, OpKind, Relu, Shape, Step, window_out
from coexplore.onnx_import.ops import node_error

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


class Reader(Protocol):
    """What a handler asks of the graph walk (`coexplore.onnx_import.engine`)."""

    values: dict[str, Value]
    shapes: dict[str, Any]

    def constant(self, node: onnx.NodeProto, position: int) -> np.ndarray: ...

    def out_shape(self, node: onnx.NodeProto) -> Shape: ...

    def add_op(self, node: onnx.NodeProto, reads: list[Value], **fields: Any) -> Value: ...

    def step(self, value: Value, step: Step) -> Value: ...


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


def _conv(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
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


def _gemm(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
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


def _pool(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
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


def _check_global(node: onnx.NodeProto, reader: Reader, out: Shape, channels: int) -> None:
    if out != (channels, 1, 1):
        raise node_error(node, "reduces other axes than rows and columns")
    if node.op_type.startswith("Reduce") and len(node.input) > 1:
        axes = sorted(int(a) % 4 for a in reader.constant(node, 1).reshape(-1))
        if axes != [2, 3]:
            raise node_error(node, f"reduces axes {axes}; only rows and columns (2, 3) run")


def _combine(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """Add / Sum of activations, or an affine step for an operation with a constant."""
    if len(data) == 1 and node.op_type in CONSTANT_MATH:
        return reader.step(data[0], _constant_affine(reader, node, data[0]))
    if node.op_type not in ("Add", "Sum") or len(data) != len(node.input):
        raise node_error(node, "combines activations other than by adding them")
    if len({v.shape for v in data}) != 1:
        raise node_error(node, f"adds shapes {[v.shape for v in data]} (equal needed)")
    return reader.add_op(node, data, kind=OpKind.ADD, out_shape=data[0].shape)


def _constant_affine(reader: Reader, node: onnx.NodeProto, value: Value) -> Affine:
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


def _concat(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    if len(data) != len(node.input) or _ints(node, "axis", [1])[0] not in (1, -3):
        raise node_error(node, "concatenates other than activations on channels")
    out = reader.out_shape(node)
    return reader.add_op(node, data, kind=OpKind.CONCAT, in_shape=out, out_shape=out)


def _resize(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    out = reader.out_shape(node)
    factor = out[1] // value.shape[1]
    if _text(node, "mode", "nearest") != "nearest" or out != (
        value.shape[0],
        *(d * factor for d in value.shape[1:]),
    ):
        raise node_error(node, "only nearest-neighbour upsampling by one integer factor runs")
    return reader.add_op(node, [value], kind=OpKind.UPSAMPLE, out_shape=out)


def _relu(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    return reader.step(data[0], Relu())


def _batchnorm(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    gamma, beta, mean, var = (reader.constant(node, i) for i in range(1, 5))
    scale = gamma / np.sqrt(var + _float(node, "epsilon", 1e-5))
    return reader.step(data[0], Affine(scale, beta - mean * scale))


def _pass(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    flat = value.flat or node.op_type in ("Flatten", "Reshape")
    if node.op_type == "Reshape" and len(reader.shapes.get(node.output[0]) or ()) not in (2, 4):
        raise node_error(node, "reshapes to other than batch x features")
    return Value(value.producer, value.shape, value.steps, flat, value.sole)


HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _gemm,
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _pool, "GlobalMaxPool": _pool,
    "ReduceMean": _pool, "ReduceMax": _pool,
    "Add": _combine, "Sum": _combine, "Sub": _combine, "Mul": _combine, "Div": _combine,
    "Concat": _concat, "Resize": _resize, "Upsample": _resize,
    "Relu": _relu, "BatchNormalization": _batchnorm,
    **dict.fromkeys(PASS_THROUGH, _pass),
}  # fmt: skip
