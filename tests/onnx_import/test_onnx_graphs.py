"""The ONNX reader on small hand-made graphs: each supported op, each refusal."""

from __future__ import annotations

import pytest
from onnx import helper
from onnx_helpers import graph_model

from coexplore.onnx_import import OnnxImportError, onnx_workload
from coexplore.workload import LayerKind


def conv(name: str, x: str, w: str, y: str, **attrs: object) -> object:
    return helper.make_node("Conv", [x, w], [y], name=name, **attrs)


def test_grouped_depthwise_and_strided_convs() -> None:
    nodes = [
        conv("c0", "x", "w0", "a", pads=[1, 1, 1, 1]),  # 3 -> 8, 3x3, same size
        conv("dw", "a", "w1", "b", group=8, strides=[2, 2], pads=[1, 1, 1, 1]),  # depthwise
        conv("g2", "b", "w2", "c", group=2),  # 8 -> 4 in two groups of 4 -> 2
        conv("mult", "c", "w3", "y", group=4),  # depthwise with multiplier 2: 4 -> 8
    ]
    weights = {"w0": [8, 3, 3, 3], "w1": [8, 1, 3, 3], "w2": [4, 4, 1, 1], "w3": [8, 1, 1, 1]}
    w = onnx_workload(graph_model(nodes, weights))
    assert [x.kind for x in w.layers] == [LayerKind.CONV, LayerKind.DWCONV] + [LayerKind.CONV] * 2
    first, dw, g2, mult = w.layers
    assert (first.out_rows, first.in_rows, first.kernel) == (8, 8, 3)
    assert (dw.in_channels, dw.out_channels, dw.out_rows, dw.stride) == (8, 8, 4, 2)
    assert g2.macs == 4 * (8 // 2) * 16 and g2.in_channels == 4
    assert mult.macs == 8 * 1 * 16 and mult.in_channels == 1
    assert w.input_shape == (3, 8, 8)


def test_gemm_matmul_pooling_and_fused_ops() -> None:
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["xn"], name="normalise"),
        conv("c", "xn", "w", "a"),
        helper.make_node("BatchNormalization", ["a", "s", "s", "s", "s"], ["bn"], name="bn"),
        helper.make_node("Clip", ["bn"], ["r"], name="relu6"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "fc_w"], ["m"], name="fc1"),
        helper.make_node("Add", ["m", "fc_b"], ["mb"], name="fc1_bias"),
        helper.make_node("Gemm", ["mb", "fc2_w", "fc2_b"], ["y"], name="fc2", transB=1),
    ]
    weights = {"mean": [1, 3, 1, 1], "w": [4, 3, 3, 3], "s": [4], "fc_w": [4, 6],
               "fc_b": [6], "fc2_w": [5, 6], "fc2_b": [5]}  # fmt: skip
    w = onnx_workload(graph_model(nodes, weights))
    kinds = [x.kind for x in w.layers]
    assert kinds == [LayerKind.CONV, LayerKind.POOL, LayerKind.POOL, LayerKind.FC, LayerKind.FC]
    c, pool, gap, fc1, fc2 = w.layers
    assert c.out_rows == 6 and c.batchnorm and not c.bias
    assert (pool.kernel, pool.stride, pool.out_rows, pool.in_rows) == (2, 2, 3, 6)
    assert (gap.kernel, gap.out_rows, gap.in_rows) == (3, 1, 3)
    assert (fc1.in_channels, fc1.out_channels, fc2.in_channels, fc2.out_channels) == (4, 6, 6, 5)
    assert fc2.bias and w.skips == ()


def test_residual_add_concat_and_resize_record_skips() -> None:
    nodes = [
        conv("c0", "x", "w0", "a", pads=[1, 1, 1, 1]),
        conv("c1", "a", "w1", "b", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["b", "a"], ["s"], name="residual"),
        helper.make_node("MaxPool", ["s"], ["p"], name="down", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["p", "", "scales"], ["u"], name="up", mode="nearest"),
        helper.make_node("Concat", ["u", "a"], ["y"], name="cat", axis=1),
    ]
    weights = {"w0": [4, 3, 3, 3], "w1": [4, 4, 3, 3]}
    model = graph_model(nodes, weights)
    model.graph.initializer.append(helper.make_tensor("scales", 1, [4], [1.0, 1.0, 2.0, 2.0]))
    w = onnx_workload(model)
    assert [x.kind.value for x in w.layers] == ["conv", "conv", "add", "pool", "upsample", "concat"]
    assert w.skips == ((0, 2), (0, 5))
    up, cat = w.layers[4:]
    assert (up.in_rows, up.out_rows, cat.out_channels, cat.out_rows) == (4, 8, 8, 8)
    assert w.boundary_words(3) == 4 * 4 * 4 + 4 * 8 * 8  # the pooled map and the skip tensor


def test_symbolic_batch_is_one_and_input_shape_can_be_given() -> None:
    nodes = [conv("c", "x", "w", "y")]
    model = graph_model(nodes, {"w": [2, 3, 3, 3]}, ["batch", 3, "h", "w"])
    with pytest.raises(OnnxImportError, match=r"input 'x' has shape 1x3x\?x\?.*--input-shape"):
        onnx_workload(model)
    w = onnx_workload(model, (3, 16, 12))
    assert (w.layers[0].out_rows, w.layers[0].out_cols) == (14, 10)


@pytest.mark.parametrize(
    ("node", "weights", "message"),
    [
        (helper.make_node("Conv", ["x", "w"], ["y"], name="d", dilations=[2, 2]),
         {"w": [2, 3, 3, 3]}, "node 'd' \\(Conv\\): dilation \\[2, 2\\] is not supported"),
        (helper.make_node("Conv", ["x", "w"], ["y"], name="k", strides=[2, 1]),
         {"w": [2, 3, 1, 3]}, "node 'k' \\(Conv\\): stride 2x1 is not supported"),
        (helper.make_node("LSTM", ["x", "w"], ["y"], name="rnn"), {"w": [1]},
         "node 'rnn' \\(LSTM\\): op not supported"),
        (helper.make_node("MatMul", ["x", "x"], ["y"], name="qk"), {},
         "node 'qk' \\(MatMul\\): MatMul of two activations: attention is not something the "
         "tiled convolution engine runs"),
        (helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 1, 3, 2]), {},
         "node 't' \\(Transpose\\): transposes \\[0, 1, 3, 2\\]: only the channels-last"),
        (helper.make_node("Concat", ["x", "x"], ["y"], name="cat", axis=2), {},
         "node 'cat' \\(Concat\\): concatenates on axis 2"),
        (helper.make_node("MyOp", ["x"], ["y"], name="custom", domain="com.acme"), {},
         "node 'custom' \\(MyOp\\): op domain 'com.acme'"),
        (helper.make_node("Relu", ["x"], ["y"], name="relu"), {},
         "no compute layer"),
    ],
)  # fmt: skip
def test_refusals_name_the_node_and_the_op(
    node: object, weights: dict[str, list[int]], message: str
) -> None:
    with pytest.raises(OnnxImportError, match=message):
        onnx_workload(graph_model([node], weights))  # type: ignore[list-item]


def test_a_second_reader_of_the_image_is_refused() -> None:
    nodes = [conv("c0", "x", "w", "a"), conv("c1", "x", "w", "b"),
             helper.make_node("Add", ["a", "b"], ["y"], name="sum")]  # fmt: skip
    with pytest.raises(OnnxImportError, match="node 'c1' \\(Conv\\): reads the image input"):
        onnx_workload(graph_model(nodes, {"w": [2, 3, 3, 3]}))


def test_a_shape_inference_cannot_fix_is_a_dynamic_shape_error() -> None:
    reshape = helper.make_node("Reshape", ["a", "shape"], ["r"], name="rs")
    nodes = [conv("c", "x", "w", "a"), reshape, conv("c2", "r", "w2", "y")]
    model = graph_model(nodes, {"w": [2, 3, 3, 3], "w2": [2, 2, 1, 1]})
    model.graph.input.append(helper.make_tensor_value_info("shape", 7, [4]))
    with pytest.raises(OnnxImportError, match="expected one image input, found 2"):
        onnx_workload(model)
    model.graph.input.pop()
    values = [helper.make_node("RandomUniformLike", ["seed"], ["random"], name="random"),
              helper.make_node("Cast", ["random"], ["shape"], name="cast", to=7)]  # fmt: skip
    nodes = [nodes[0], *values, *nodes[1:]]  # a shape known only when the graph runs
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.append(helper.make_tensor("seed", 1, [4], [1.0] * 4))
    with pytest.raises(OnnxImportError, match="node 'c2' \\(Conv\\): tensor 'r' has no static"):
        onnx_workload(model)
