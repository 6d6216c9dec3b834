"""The image input and the shapes of every tensor: the batch fixed to 1, an optional new input
size, then ONNX shape inference."""

from __future__ import annotations

import onnx

from coexplore.onnx_import.ops import Dims, OnnxImportError, shape_text


def with_input_shape(model: onnx.ModelProto, shape: tuple[int, int, int] | None) -> onnx.ModelProto:
    """A copy whose image input is 1 x C x H x W: the batch fixed to 1, and `shape` if given.

    With a new shape, the exporter's recorded intermediate shapes are dropped (they describe the
    old one) and shape inference recomputes them.
    """
    model = _copy(model)
    image = model.graph.input[image_index(model)]
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


def image_index(model: onnx.ModelProto) -> int:
    """The one graph input that is not a weight (older exporters list weights as inputs)."""
    weights = {t.name for t in model.graph.initializer}
    images = [i for i, x in enumerate(model.graph.input) if x.name not in weights]
    if len(images) != 1:
        names = ", ".join(repr(model.graph.input[i].name) for i in images) or "none"
        raise OnnxImportError(f"expected one image input, found {len(images)} ({names})")
    return images[0]


def image_shape(model: onnx.ModelProto) -> tuple[int, int, int]:
    image = model.graph.input[image_index(model)]
    dims = _dims(image.type)
    if len(dims) != 4 or None in dims[1:] or any(d is not None and d < 1 for d in dims):
        raise OnnxImportError(
            f"input {image.name!r} has shape {shape_text(dims)}: a static N x C x H x W is needed "
            f"(give --input-shape CxHxW for a dynamic one)"
        )
    return (int(dims[1] or 0), int(dims[2] or 0), int(dims[3] or 0))


def inferred_shapes(model: onnx.ModelProto) -> dict[str, Dims]:
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
