"""Element-wise ops on the image path: which are free, which make an `act` layer, and what a
node that combines two activations is (docs/onnx-import.md, "Activations, gates, SE").

Every activation tensor is held as a `Function` of its root, the tensor a layer (or the image)
wrote. Ops the engine applies on its write-back (BatchNorm, ReLU, clipping, scaling by
constants) keep it free; ops that need a table or a multiplier (`TABLES`: sigmoid, tanh, erf,
GELU, hard-swish, ...) and products of two functions of one root (x * sigmoid(x)) make it an
`act` layer, placed when something first reads it (`place`). So an exporter's
`Sigmoid` + `Mul` is one SiLU layer, and GELU written out as erf, adds and products is one
GELU layer. Two activations of different roots are a residual `add`, or a channel-wise `scale`
when one is a 1 x C x 1 x 1 gate (squeeze-and-excitation); anything else is refused.
"""

from __future__ import annotations

from dataclasses import replace

import onnx

from coexplore.onnx_import.ops import (
    TABLES,
    WEIGHTED,
    Function,
    Graph,
    ints,
    node_error,
    node_name,
    shape_text,
)
from coexplore.workload import Layer, LayerKind

# Names of the functions the reader recognises (the engine's cost is the same for all; the
# name says what the layer computes: docs/hardware.md). Key: (table ops in order, gated).
NAMES = {
    (("Sigmoid",), False): "sigmoid",
    (("Sigmoid",), True): "silu",
    (("HardSwish",), False): "hswish",
    ((), True): "hswish",  # x * clip(x + 3, 0, 6) / 6 written out (only when clipped)
    (("Gelu",), False): "gelu",
    (("Erf",), True): "gelu",  # x * (1 + erf(x / sqrt 2)) / 2
    (("Tanh",), False): "tanh",
    (("Softplus", "Tanh"), True): "mish",
    (("Mish",), False): "mish",
}
CHANNELS_LAST = (0, 2, 3, 1)  # N x C x H x W -> N x H x W x C
CHANNELS_FIRST = (0, 3, 1, 2)
# Ops that move a tensor's elements to other axes: meaningless on a channels-last map here.
RESHAPING = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Pad"})
COMBINES = (
    "{op} of two activations: only Add, Concat, a channel-wise scale and gates like "
    "x * sigmoid(x) may combine two"
)
SCALES = (
    "multiplies {shapes}: only a per-channel scale (N x C x H x W by N x C x 1 x 1) or a gate "
    "of one activation by a function of itself is supported"
)
TRANSPOSES = (
    "transposes {perm}: only the channels-last round trip (0, 2, 3, 1), then (0, 3, 1, 2), "
    "around a LayerNorm is supported"
)


def function_name(function: Function) -> str:
    """What an `act` layer computes: a known name, else its table ops joined."""
    gated = function.gates > 0
    if (function.tables, gated) == ((), True) and not function.clipped:
        return "product"  # x * x, x * relu(x): a multiplier, no table
    if function.tables == ("Tanh",) and function.gates > 1:
        return "gelu"  # the tanh approximation: x * (1 + tanh(c (x + 0.044715 x^3))) / 2
    known = NAMES.get((function.tables, gated))
    if known:
        return known
    name = "+".join(op.lower() for op in function.tables)
    return f"x*{name}" if gated else name


def unary(graph: Graph, node: onnx.NodeProto, tensor: str) -> None:
    """A one-activation op: free (fused, layout, scaling by constants) or part of a function."""
    function = graph.functions[tensor]
    op = node.op_type
    if op == "Transpose":
        _transpose(graph, node, tensor)
    elif tensor in graph.channels_last and op in RESHAPING:
        raise node_error(node, "reshapes a channels-last tensor (only Transpose 0,3,1,2 may)")
    if op == "BatchNormalization" and not function.needs_layer:
        _fold_batchnorm(graph, function.root)
    if op in TABLES:
        function = replace(function, tables=(*function.tables, op))
    elif op in ("Clip", "HardSigmoid"):
        function = replace(function, clipped=True)
    _set(graph, node, function, tensor)


Placed = tuple[Layer, list[int | None]]  # a layer to append, and the layers it reads


def binary(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Placed | None:
    """Add, Sub, Mul or Div of two activations: a function of one root (None: no layer yet),
    a residual `add` or a squeeze-and-excitation `scale`, with the layers it reads (placed)."""
    first, second = (graph.functions[name] for name in data)
    out = graph.shape(node.output[0], node)
    if first.root == second.root and all(graph.shape(x, node) == out for x in data):
        tables = tuple(dict.fromkeys(first.tables + second.tables))  # in order, once each
        gates, clipped = first.gates + second.gates + 1, first.clipped or second.clipped
        _set(graph, node, Function(first.root, tables, gates, clipped), data[0])
        return None
    layouts = {name in graph.channels_last for name in data}
    if len(layouts) > 1:
        raise node_error(node, "combines a channels-last and a channels-first tensor")
    if node.op_type == "Mul":
        return _scale(graph, node, data)
    if node.op_type != "Add":
        raise node_error(node, COMBINES.format(op=node.op_type))
    shapes = [graph.shape(name, node) for name in data]
    if shapes[0] != shapes[1] or len(shapes[0]) not in (2, 4):
        both = " and ".join(shape_text(x) for x in shapes)
        raise node_error(node, f"adds shapes {both} (equal needed)")
    channels, rows, cols = graph.map_size(data[0], node)
    add = Layer(LayerKind.ADD, channels, channels, rows, cols, bias=False, name=node_name(node))
    return add, [place(graph, name) for name in data]


def _scale(graph: Graph, node: onnx.NodeProto, data: list[str]) -> Placed:
    """x * gate with a gate of N x C x 1 x 1: squeeze-and-excitation's channel-wise scale. The
    scale applies the gate's function (its sigmoid) to the C gate values it reads."""
    x, gate = _map_and_gate(graph, node, data)
    channels, rows, cols = graph.map_size(x, node)
    function = graph.functions[gate]
    placed = gate in graph.producer  # another reader placed the gate's function already
    name = function_name(function) if function.needs_layer and not placed else ""
    source = graph.producer[gate if placed else function.root]
    layer = Layer(LayerKind.SCALE, channels, channels, rows, cols, bias=False,
                  name=node_name(node), function=name)  # fmt: skip
    return layer, [place(graph, x), source]


def _map_and_gate(graph: Graph, node: onnx.NodeProto, data: list[str]) -> tuple[str, str]:
    """(the map, the gate) of a channel-wise scale; of two N x C x 1 x 1 tensors (a scale on a
    1 x 1 map) the gate is the one computed later (from the map, through the SE's layers)."""
    shapes = [graph.shape(name, node) for name in data]
    ones = [len(dims) == 4 and dims[2:] == (1, 1) for dims in shapes]
    maps = all(len(dims) == 4 for dims in shapes) and not graph.channels_last & set(data)
    if not (maps and any(ones) and shapes[0][:2] == shapes[1][:2]):
        both = " by ".join(shape_text(x) for x in shapes)
        raise node_error(node, SCALES.format(shapes=both))
    if all(ones):
        roots = [graph.producer[graph.functions[name].root] for name in data]
        later = max((-1 if r is None else r, i) for i, r in enumerate(roots))[1]
        return data[1 - later], data[later]
    return (data[1], data[0]) if ones[0] else (data[0], data[1])


def place(graph: Graph, tensor: str) -> int | None:
    """The layer that holds `tensor` for a reader (None: the image), an `act` layer appended
    for it first when its function needs one; a tensor is placed once."""
    if tensor in graph.producer:
        return graph.producer[tensor]
    function = graph.functions[tensor]
    if function.needs_layer:
        node = graph.makers[tensor]
        channels, rows, cols = graph.map_size(function.root, node)
        layer = Layer(LayerKind.ACT, channels, channels, rows, cols, bias=False,
                      name=node_name(node), function=function_name(function))  # fmt: skip
        append(graph, node, layer, [graph.producer[function.root]], tensor)
    else:
        graph.producer[tensor] = graph.producer[function.root]
    return graph.producer[tensor]


def append(
    graph: Graph, node: onnx.NodeProto, layer: Layer, inputs: list[int | None], output: str
) -> None:
    """Add a layer that writes `output`; an input other than the previous layer's output is a
    skip tensor."""
    index = len(graph.layers)
    previous = index - 1 if index else None  # the first layer's own input is the image
    for producer in sorted(
        {p for p in inputs if p != previous}, key=lambda p: -1 if p is None else p
    ):
        if producer is None:
            raise node_error(node, "reads the image input, which only the first layer may read")
        graph.skips.append((producer, index))
    graph.layers.append(layer)
    graph.producer[output] = index
    graph.functions[output] = Function(output)


def _set(graph: Graph, node: onnx.NodeProto, function: Function, tensor: str) -> None:
    """`node`'s output is `function`, in the layout of its input `tensor`; its maker (the name
    of an `act` layer made for it) is the node that last changed the function."""
    output = node.output[0]
    same = function == graph.functions[tensor] and tensor in graph.makers
    graph.functions[output] = function
    graph.makers[output] = graph.makers[tensor] if same else node
    if node.op_type != "Transpose" and tensor in graph.channels_last:
        graph.channels_last.add(output)


def _transpose(graph: Graph, node: onnx.NodeProto, tensor: str) -> None:
    """Only the channels-last round trip: N C H W -> N H W C, and back."""
    perm = tuple(ints(node, "perm", []))
    rank = len(graph.shape(tensor, node))
    last = tensor in graph.channels_last
    if rank == 4 and perm == (CHANNELS_FIRST if last else CHANNELS_LAST):
        if not last:
            graph.channels_last.add(node.output[0])
        return
    raise node_error(node, TRANSPOSES.format(perm=list(perm)))


def _fold_batchnorm(graph: Graph, root: str) -> None:
    producer = graph.producer.get(root)
    if producer is not None and graph.layers[producer].kind in WEIGHTED:
        graph.batchnorm.add(producer)
