"""The ONNX nodes an engine net is made of: each handler turns one node on the image path into
an engine op (through the reader's `add_op`), a step (`step`), a link of an element-wise chain
(`engine_functions`), or a value passed through (`coexplore.onnx_import.engine` walks the
graph, places the chains as act ops and the steps as pre or post steps). Convs, fcs, pools,
concat and resize are here; the element-wise and channel ops in `engine_streaming`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from coexplore.hardware.engine.net import OpKind, Shape, window_out
from coexplore.onnx_import.engine_streaming import STREAMING
from coexplore.onnx_import.engine_values import Draft, Reader, Value, float_attr, ints, text
from coexplore.onnx_import.ops import node_error

__all__ = ["CHANNELS_FIRST_ONLY", "HANDLERS", "LAYERS", "Draft", "Value"]

PASS_THROUGH = frozenset({"Flatten", "Reshape", "Dropout", "Identity", "Cast"})
# Ops that read their inputs as a layer: an element-wise chain they read is placed first.
LAYERS = frozenset({
    "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "ReduceMean", "ReduceMax", "Concat", "Resize", "Upsample", "LayerNormalization",
})  # fmt: skip
# Ops that cannot read a channels-last map (their meaning depends on the layout).
CHANNELS_FIRST_ONLY = LAYERS - {"Gemm", "MatMul", "LayerNormalization"} | {"Flatten", "Reshape"}


def _window(
    node: onnx.NodeProto, value: Value, out: Shape, kernel: tuple[int, int]
) -> dict[str, int]:
    """Kernel (Kh x Kw), stride and padding (equal above and below, equal left and right) of
    a conv or pool, checked against the output."""
    strides = ints(node, "strides", [1, 1])
    if any(d != 1 for d in ints(node, "dilations", [1])) or len(set(strides)) != 1:
        raise node_error(node, "only square strides and dilation 1 run on the engine")
    if ints(node, "ceil_mode", [0])[0]:
        raise node_error(node, "ceil_mode 1 is not supported (the engine rounds down)")
    stride, (rows, cols) = strides[0], value.shape[1:]
    pads = ints(node, "pads", [0, 0, 0, 0])
    if text(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        pads = [_same(out[1], rows, kernel[0], stride), _same(out[2], cols, kernel[1], stride)] * 2
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3] or min(pads) < 0:
        raise node_error(node, f"padding {pads} is not the same on opposite sides")
    (kh, kw), (ph, pw) = kernel, pads[:2]
    if (window_out(rows, kh, stride, ph), window_out(cols, kw, stride, pw)) != out[1:]:
        raise node_error(node, f"output {out} is not what a floor-mode window gives")
    return {"kernel": kh, "kernel_cols": kw, "stride": stride, "padding": ph, "padding_cols": pw}


def _same(out: int, size: int, kernel: int, stride: int) -> int:
    """auto_pad's padding on each side along one axis (-1 when it is not even)."""
    total = (out - 1) * stride + kernel - size
    return total // 2 if total % 2 == 0 and total >= 0 else -1


def _conv(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    weight = reader.constant(node, 1)
    out = reader.out_shape(node)
    if weight.ndim != 4:
        raise node_error(node, f"weights of shape {weight.shape}: a 2-D conv is needed")
    bias = reader.constant(node, 2) if len(node.input) > 2 and node.input[2] else None
    groups = ints(node, "group", [1])[0]
    if groups != 1 and not groups == value.shape[0] == out[0]:
        raise node_error(node, f"a conv of {groups} groups (the engine runs full or depthwise)")
    fields = _window(node, value, out, (int(weight.shape[2]), int(weight.shape[3])))
    return reader.add_op(node, [value], kind=OpKind.CONV, weight=weight, bias=bias,
                         groups=groups, out_shape=out, **fields)  # fmt: skip


def _gemm(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    if len(data) != 1 or node.input[0] not in reader.values:
        raise node_error(node, "multiplies two activations; only activation x weights runs")
    (value,) = data
    weight = reader.constant(node, 1)
    if node.op_type == "MatMul" or not ints(node, "transB", [0])[0]:
        weight = weight.T
    if ints(node, "transA", [0])[0] or weight.ndim != 2:
        raise node_error(node, "needs a rank-2 weight and transA = 0")
    if value.last and node.op_type == "MatMul":  # nn.Linear on each pixel: a 1 x 1 conv
        if weight.shape[1] != value.shape[0]:
            raise node_error(node, f"weights {weight.shape} do not take {value.shape[0]} channels")
        return reader.add_op(node, [value], kind=OpKind.CONV, weight=weight[:, :, None, None])
    alpha = float_attr(node, "alpha", 1.0)
    bias = None
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        bias = np.broadcast_to(
            reader.constant(node, 2) * float_attr(node, "beta", 1.0), weight.shape[:1]
        )
    features = int(np.prod(value.shape))
    if weight.shape[1] != features:
        raise node_error(node, f"weights {weight.shape} do not take {features} features")
    return reader.add_op(node, [value], kind=OpKind.FC, weight=weight * alpha,
                         bias=None if bias is None else np.array(bias),
                         out_shape=(int(weight.shape[0]), 1, 1))  # fmt: skip


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
    kernel = ints(node, "kernel_shape", [])
    if len(kernel) != 2:
        raise node_error(node, f"kernel {kernel}: a 2-D window is needed")
    fields = _window(node, value, out, (kernel[0], kernel[1]))
    kind = OpKind.MAX_POOL if node.op_type == "MaxPool" else OpKind.AVG_POOL
    include = bool(ints(node, "count_include_pad", [0])[0]) and kind is OpKind.AVG_POOL
    return reader.add_op(node, [value], kind=kind, count_include_pad=include, **fields)


def _check_global(node: onnx.NodeProto, reader: Reader, out: Shape, channels: int) -> None:
    if out != (channels, 1, 1):
        raise node_error(node, "reduces other axes than rows and columns")
    if node.op_type.startswith("Reduce") and len(node.input) > 1:
        axes = sorted(int(a) % 4 for a in reader.constant(node, 1).reshape(-1))
        if axes != [2, 3]:
            raise node_error(node, f"reduces axes {axes}; only rows and columns (2, 3) run")


def _concat(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    if len(data) != len(node.input) or ints(node, "axis", [1])[0] not in (1, -3):
        raise node_error(node, "concatenates other than activations on channels")
    out = reader.out_shape(node)
    return reader.add_op(node, data, kind=OpKind.CONCAT, in_shape=out, out_shape=out)


def _resize(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    (value,) = data
    out = reader.out_shape(node)
    factor = out[1] // value.shape[1]
    if text(node, "mode", "nearest") != "nearest" or out != (
        value.shape[0],
        *(d * factor for d in value.shape[1:]),
    ):
        raise node_error(node, "only nearest-neighbour upsampling by one integer factor runs")
    return reader.add_op(node, [value], kind=OpKind.UPSAMPLE, out_shape=out)


def _pass(reader: Reader, node: onnx.NodeProto, data: list[Value]) -> Value:
    """Dropout, Identity, Cast: the value; Flatten and Reshape to batch x features: the value
    read flat; a Reshape to the value's own N x C x H x W (an SE gate's fc output viewed as
    C x 1 x 1): the value as a map again (the words keep their order)."""
    (value,) = data
    if node.op_type not in ("Flatten", "Reshape"):
        return value
    if value.last:
        raise node_error(node, "reshapes a channels-last map (only Transpose 0,3,1,2 may)")
    rank = len(reader.shapes.get(node.output[0]) or ())
    if rank == 4 and reader.out_shape(node) == value.shape:
        return replace(value, flat=False)
    if rank != 2:
        raise node_error(node, "reshapes to other than batch x features or the same map")
    return replace(value, flat=True)


HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _gemm,
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _pool, "GlobalMaxPool": _pool,
    "ReduceMean": _pool, "ReduceMax": _pool, "Concat": _concat, "Resize": _resize,
    "Upsample": _resize, **STREAMING, **dict.fromkeys(PASS_THROUGH, _pass),
}  # fmt: skip
