"""The ONNX reader on small hand-made graphs: element-wise functions and gates, the
squeeze-and-excitation scale, the channels-last LayerNorm, what it refuses and why, and nodes
that reach no graph output (dropped)."""

from __future__ import annotations

import pytest
from onnx import helper
from onnx_helpers import graph_model

from coexplore.onnx_import import OnnxImportError, onnx_workload
from coexplore.workload import LayerKind


def node(op: str, inputs: list[str], output: str, **attrs: object) -> object:
    return helper.make_node(op, inputs, [output], name=output, **attrs)


def conv(x: str, w: str, y: str) -> object:
    return node("Conv", [x, w], y, pads=[1, 1, 1, 1])


def kinds(nodes: list, weights: dict[str, list[int]], **more: object) -> list[tuple[str, str]]:
    workload = onnx_workload(graph_model(nodes, weights, **more))  # type: ignore[arg-type]
    return [(x.kind.value, x.function) for x in workload.layers]


W = {"w": [4, 3, 3, 3], "w2": [4, 4, 3, 3]}


def test_a_sigmoid_and_its_product_are_one_silu_layer() -> None:
    nodes = [conv("x", "w", "a"), node("Sigmoid", ["a"], "s"), node("Mul", ["s", "a"], "m"),
             conv("m", "w2", "y")]  # fmt: skip
    assert kinds(nodes, W) == [("conv", ""), ("act", "silu"), ("conv", "")]


def test_a_gate_read_twice_is_placed_for_each_reader() -> None:
    """The sigmoid is read by a conv too: it is a layer of its own, and so is the SiLU."""
    nodes = [conv("x", "w", "a"), node("Sigmoid", ["a"], "s"), node("Mul", ["a", "s"], "m"),
             conv("s", "w2", "b"), node("Add", ["b", "m"], "y")]  # fmt: skip
    workload = onnx_workload(graph_model(nodes, W))  # type: ignore[arg-type]
    got = [(x.kind.value, x.function) for x in workload.layers]
    assert got == [("conv", ""), ("act", "sigmoid"), ("conv", ""), ("act", "silu"), ("add", "")]
    assert workload.skips == ((0, 3), (2, 4))


def test_a_closing_sigmoid_is_a_layer_and_a_closing_softmax_is_not() -> None:
    assert kinds([conv("x", "w", "a"), node("Sigmoid", ["a"], "y")], W)[-1] == ("act", "sigmoid")
    assert kinds([conv("x", "w", "a"), node("Softmax", ["a"], "y")], W) == [("conv", "")]


def test_relu_clip_hardsigmoid_and_constant_scaling_stay_fused() -> None:
    nodes = [
        conv("x", "w", "a"), node("Relu", ["a"], "r"), node("Mul", ["r", "k"], "sk"),
        node("HardSigmoid", ["sk"], "h", alpha=0.2, beta=0.5), node("Clip", ["h"], "y"),
    ]  # fmt: skip
    assert kinds(nodes, {**W, "k": [1]}) == [("conv", "")]


def se_nodes(gate: str) -> list:
    """conv -> pool -> 1x1 conv -> ReLU -> 1x1 conv -> gate -> Mul with the conv's map."""
    return [
        conv("x", "w", "a"), node("GlobalAveragePool", ["a"], "p"), node("Conv", ["p", "r"], "q"),
        node("Relu", ["q"], "qr"), node("Conv", ["qr", "e"], "g"), node(gate, ["g"], "gs"),
        node("Mul", ["gs", "a"], "y"),
    ]  # fmt: skip


@pytest.mark.parametrize(("gate", "function"), [("Sigmoid", "sigmoid"), ("HardSigmoid", "")])
def test_squeeze_excitation_is_a_scale_that_applies_its_gate(gate: str, function: str) -> None:
    workload = onnx_workload(
        graph_model(se_nodes(gate), {**W, "r": [2, 4, 1, 1], "e": [4, 2, 1, 1]})
    )
    assert [x.kind for x in workload.layers] == [LayerKind.CONV, LayerKind.POOL, LayerKind.CONV,
                                                 LayerKind.CONV, LayerKind.SCALE]  # fmt: skip
    scale = workload.layers[-1]
    assert (scale.out_channels, scale.out_rows, scale.function) == (4, 8, function)
    assert workload.skips == ((0, 4),)
    assert workload.boundary_words(3) == 4 + 4 * 8 * 8  # the gate and the map cross a cut


def test_squeeze_excitation_on_a_one_by_one_map_finds_its_gate() -> None:
    """Map and gate are both 1 x C x 1 x 1: the gate is the one computed from the map."""
    nodes = [node("Conv", ["x", "w"], "a", strides=[8, 8]), *se_nodes("Sigmoid")[1:]]
    workload = onnx_workload(graph_model(nodes, {**W, "r": [2, 4, 1, 1], "e": [4, 2, 1, 1]}))
    assert workload.layers[-1].function == "sigmoid" and workload.skips == ((0, 4),)


def test_channels_last_layer_norm_and_linear() -> None:
    nodes = [
        conv("x", "w", "a"), node("Transpose", ["a"], "t", perm=[0, 2, 3, 1]),
        node("LayerNormalization", ["t", "g", "b"], "n", axis=-1),
        node("MatMul", ["n", "lin"], "l"), node("Gelu", ["l"], "ge"),
        node("Transpose", ["ge"], "back", perm=[0, 3, 1, 2]), node("Add", ["back", "a"], "y"),
    ]  # fmt: skip
    weights = {**W, "g": [4], "b": [4], "lin": [4, 4]}
    workload = onnx_workload(graph_model(nodes, weights, opset=20))
    got = [(x.kind.value, x.in_channels, x.out_channels, x.out_rows, x.function)
           for x in workload.layers]  # fmt: skip
    assert got == [("conv", 3, 4, 8, ""), ("norm", 4, 4, 8, ""), ("conv", 4, 4, 8, ""),
                   ("act", 4, 4, 8, "gelu"), ("add", 4, 4, 8, "")]  # fmt: skip
    assert workload.layers[1].params == 8 and workload.skips == ((0, 4),)


DEAD = [conv("x", "w", "a"), node("LSTM", ["x", "w"], "dead"), conv("a", "w2", "y"),
        conv("a", "w2", "unused")]  # fmt: skip


def test_nodes_that_reach_no_output_are_dropped() -> None:
    """A board never runs them: a dead branch is no layer, and a dead unknown op no refusal."""
    workload = onnx_workload(graph_model(DEAD, W))  # type: ignore[arg-type]
    assert [x.name for x in workload.layers] == ["a", "y"] and workload.skips == ()


@pytest.mark.parametrize(
    ("nodes", "weights", "message"),
    [
        ([node("LSTM", ["x", "w"], "r"), node("MatMul", ["x", "x"], "y")], W,
         "node 'y' \\(MatMul\\): MatMul of two activations: attention is not something"),
        ([conv("x", "w", "a"), helper.make_node("Split", ["a"], ["q", "k"], name="qk", axis=1),
          node("MatMul", ["q", "k"], "y")], W, "node 'y' \\(MatMul\\): MatMul of two activ"),
        ([conv("x", "w", "a"), node("Transpose", ["a"], "t", perm=[0, 2, 3, 1]),
          node("Conv", ["t", "w2"], "y")], W, "node 'y' \\(Conv\\): reads a channels-last"),
        ([conv("x", "w", "a"), node("Transpose", ["a"], "t", perm=[0, 2, 3, 1]),
          node("Flatten", ["t"], "y")], W, "node 'y' \\(Flatten\\): reshapes a channels-last"),
        ([conv("x", "w", "a"), node("LayerNormalization", ["a", "g"], "y", axis=1)],
         {**W, "g": [4, 8, 8]}, "normalises axes 1.. of 1x4x8x8: only a LayerNorm over the"),
        ([conv("x", "w", "a"), conv("a", "w2", "b"), node("Mul", ["a", "b"], "y")], W,
         "node 'y' \\(Mul\\): multiplies 1x4x8x8 by 1x4x8x8: only a per-channel scale"),
        ([conv("x", "w", "a"), conv("a", "w2", "b"), node("Div", ["a", "b"], "y")], W,
         "node 'y' \\(Div\\): Div of two activations: only Add, Concat, a channel-wise scale"),
        ([conv("x", "w", "a"), node("ReduceMean", ["a", "axes"], "y", keepdims=1)],
         {**W, "axes": [1]}, "reduces other axes than rows and columns \\(a LayerNorm written"),
    ],
)  # fmt: skip
def test_refusals_say_why(nodes: list, weights: dict[str, list[int]], message: str) -> None:
    model = graph_model(nodes, weights, opset=20)
    if "axes" in weights:  # ReduceMean's axes: integer values shape inference reads
        axes = next(t for t in model.graph.initializer if t.name == "axes")
        axes.CopyFrom(helper.make_tensor("axes", 7, [1], [1]))
    with pytest.raises(OnnxImportError, match=message):
        onnx_workload(model)
