"""The ONNX nodes that become the engine's element-wise and channel ops: ReLU, hard-sigmoid and
affine steps, element-wise chains (`engine_functions`: SiLU as Sigmoid and Mul, hard-swish,
GELU, ...) placed as `act` ops when a layer reads them, the adds of activations, the
squeeze-and-excitation product (a `scale` op), and LayerNorm over the channels between the
channels-last Transpose pair (a `norm` op)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from coexplore.hardware.engine.net import GATE_FUNCTIONS, Affine, HardSigmoid, OpKind, Relu, Step
from coexplore.onnx_import import engine_functions as chains
from coexplore.onnx_import.engine_values import Reader, Value, float_attr, ints, maker, text
from coexplore.onnx_import.ops import TABLES, node_error

CONSTANT_MATH = frozenset({"Add", "Sub", "Mul", "Div"})


def combine(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """Add / Sum of activations, a product of a map and a gate (a scale), a chain of one
    value (x * sigmoid(x)), or an affine step for an operation with a constant."""
    if len(data) == 1 and node.op_type in CONSTANT_MATH:
        return _pointwise(reader, node, data[0], _constant_affine(reader, node, data[0]))
    if len(data) != len(node.input):
        raise node_error(node, "combines an activation with itself in one input list")
    if len(data) == 2 and data[0].producer == data[1].producer and node.op_type != "Sum":
        return _chain(node, data)
    if node.op_type == "Mul" and len(data) == 2:
        return _scale(reader, node)
    if node.op_type not in ("Add", "Sum"):
        raise node_error(node, "combines activations other than by adding them, a map times "
                         "a gate of one value per channel, or x * f(x)")  # fmt: skip
    data = [reader.place(name) for name in node.input]
    if len({v.shape for v in data}) != 1 or len({v.last for v in data}) != 1:
        raise node_error(node, f"adds shapes {[v.shape for v in data]} (equal needed)")
    return reader.add_op(node, data, kind=OpKind.ADD, out_shape=data[0].shape)


def _chain(node: onnx.NodeProto, data: list[Value]) -> Value:
    """Two element-wise chains of one value joined: their steps in common stay steps, the
    rest become one chain (x * sigmoid(x): a SiLU)."""
    first, second = data
    common = 0
    while common < min(len(first.steps), len(second.steps)) and (
        first.steps[common] is second.steps[common]
    ):
        common += 1
    left = chains.after_steps(first.expr, first.steps[common:])
    right = chains.after_steps(second.expr, second.steps[common:])
    if left is None or right is None or first.shape != second.shape or first.last != second.last:
        raise node_error(node, "combines two functions of one value through a per-channel "
                         "affine: not one element-wise function")  # fmt: skip
    expr = chains.combine(node.op_type, left, right, maker(node))
    return Value(first.producer, first.shape, first.steps[:common], first.flat, last=first.last,
                 expr=expr)  # fmt: skip


def _scale(reader: Reader, node: onnx.NodeProto) -> Value:
    """A map times a gate of one value per channel (squeeze-and-excitation); the gate's
    sigmoid or tanh (if any) is the scale's function, a hard-sigmoid a step before it."""
    values = [reader.values[name] for name in node.input]
    gates = [v.shape[1:] == (1, 1) and not v.last and not v.flat for v in values]
    if not any(gates) or values[0].shape[0] != values[1].shape[0] or values[0].last:
        shapes = " by ".join(str(v.shape) for v in values)
        raise node_error(node, f"multiplies {shapes}: only a map by one value per channel "
                         "(squeeze-and-excitation) or x * f(x) runs")  # fmt: skip
    later = values[1].producer > values[0].producer if all(gates) else gates[1]
    gate_at = 1 if later else 0
    gate = values[gate_at]
    function = ""
    if gate.expr is not None:
        function = chains.identify(gate.expr, GATE_FUNCTIONS[1:]) or ""
        if not function:
            raise node_error(node, f"a gate of {gate.expr.workload_name}: the scale applies "
                             "sigmoid or tanh to its gate values, or nothing")  # fmt: skip
    tensor = reader.place(node.input[1 - gate_at])
    gate = Value(gate.producer, gate.shape, gate.steps)
    return reader.add_op(node, [tensor, gate], kind=OpKind.SCALE, in_shape=tensor.shape,
                         out_shape=tensor.shape, function=function)  # fmt: skip


def _constant_affine(reader: Reader, node: onnx.NodeProto, value: Value) -> Affine:
    position = 1 if node.input[0] in reader.values else 0
    constant = reader.constant(node, position)
    channels = value.shape[0]
    rank = len(reader.shapes.get(node.input[1 - position]) or ())
    per_channel = _per_channel(node, constant, channels, -1 if value.last or rank == 2 else -3)
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


def _per_channel(
    node: onnx.NodeProto, constant: np.ndarray, channels: int, axis: int
) -> np.ndarray:
    """A scalar or one value per channel along `axis` of the tensor (-3 for N x C x H x W:
    shapes (C, 1, 1), (1, C, 1, 1); -1 for a vector or a channels-last map: (C,), (1, C))."""
    if constant.size == 1:
        return np.full(channels, float(constant.reshape(-1)[0]))
    along = constant.ndim >= -axis and constant.shape[axis] == channels == constant.size
    if not along:
        raise node_error(
            node, f"a constant of shape {constant.shape}: one value per channel needed"
        )
    return constant.reshape(-1).astype(np.float64)


def _pointwise(reader: Reader, node: onnx.NodeProto, value: Value, step: Step) -> Value:
    """A step (ReLU, hard-sigmoid, an affine with constants) on a value: a step, or the next
    link of the value's element-wise chain."""
    if value.expr is None:
        return reader.step(value, step)
    function = chains.step_function(step)
    if function is None:
        raise node_error(node, "a per-channel affine inside an element-wise function")
    return replace(value, expr=value.expr.then(function, maker(node)))


def _relu(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    return _pointwise(reader, node, data[0], Relu())


def _hard_sigmoid(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """relu6(x + 3) / 6, as torch exports Hardsigmoid (alpha 1/6, beta 1/2)."""
    alpha, beta = float_attr(node, "alpha", 0.2), float_attr(node, "beta", 0.5)
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        raise node_error(node, f"alpha {alpha:g}, beta {beta:g}: the engine's hard-sigmoid is "
                         "relu6(x + 3) / 6 (alpha 1/6, beta 1/2)")  # fmt: skip
    value = data[0]
    if value.expr is not None:
        return replace(value, expr=value.expr.then(chains.float_hard_sigmoid,
                                                   maker(node), clip=True))  # fmt: skip
    return reader.step(value, HardSigmoid())


def _function(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """A table op (sigmoid, tanh, erf, GELU, hard-swish, ...) or a Clip: a chain's link."""
    value, op = data[0], node.op_type
    if op == "Clip":
        low, high = _clip_range(reader, node)
        link = chains.clip(low, high)
        expr = (value.expr or chains.IDENTITY).then(link, maker(node), clip=True)
    elif value.expr is None:
        expr = chains.start(op, maker(node), text(node, "approximate", "none"))
    else:
        link = chains.start(op, ("", op), text(node, "approximate", "none")).evaluate
        expr = value.expr.then(link, maker(node), table=op)
    return replace(value, expr=expr)


def _clip_range(reader: Reader, node: onnx.NodeProto) -> tuple[float, float]:
    """Clip's bounds: inputs 1 and 2 (opset 11+) or the min / max attributes."""
    bounds = []
    for position, attribute, default in ((1, "min", -np.inf), (2, "max", np.inf)):
        if len(node.input) > position and node.input[position]:
            bounds.append(float(reader.constant(node, position).reshape(-1)[0]))
        else:
            bounds.append(float_attr(node, attribute, default))
    return bounds[0], bounds[1]


def _batchnorm(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    gamma, beta, mean, var = (reader.constant(node, i) for i in range(1, 5))
    scale = gamma / np.sqrt(var + float_attr(node, "epsilon", 1e-5))
    return _pointwise(reader, node, data[0], Affine(scale, beta - mean * scale))


def _transpose(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """Only the channels-last round trip: (0, 2, 3, 1), then (0, 3, 1, 2)."""
    value = data[0]
    perm = tuple(ints(node, "perm", []))
    rank = len(reader.shapes.get(node.input[0]) or ())
    wanted = (0, 3, 1, 2) if value.last else (0, 2, 3, 1)
    if rank != 4 or perm != wanted:
        raise node_error(node, f"transposes {list(perm)}: only to channels-last (0, 2, 3, 1) "
                         "and back (0, 3, 1, 2) runs")  # fmt: skip
    return replace(value, last=not value.last)


def _layer_norm(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """LayerNormalization over the channels: of a channels-last map or of a vector."""
    (value,) = data
    rank = len(reader.shapes.get(node.input[0]) or ())
    axis = ints(node, "axis", [-1])[0]
    if not (value.last or rank == 2) or axis not in (-1, rank - 1):
        raise node_error(node, "a LayerNorm other than over the channels of a channels-last "
                         "map or of a vector")  # fmt: skip
    bias = reader.constant(node, 2) if len(node.input) > 2 and node.input[2] else None
    return reader.add_op(node, [value], kind=OpKind.NORM, weight=reader.constant(node, 1),
                         bias=bias, eps=float_attr(node, "epsilon", 1e-5),
                         out_shape=value.shape)  # fmt: skip


STREAMING = {
    "Add": combine, "Sum": combine, "Sub": combine, "Mul": combine, "Div": combine,
    "Relu": _relu, "BatchNormalization": _batchnorm, "HardSigmoid": _hard_sigmoid,
    "Clip": _function, "Transpose": _transpose, "LayerNormalization": _layer_norm,
    **dict.fromkeys(TABLES, _function),
}  # fmt: skip
