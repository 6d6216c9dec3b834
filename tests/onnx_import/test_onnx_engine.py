"""ONNX with its weights as an engine net: the reader's workload layer for layer, the model's
float output, batch norm and constants folded or placed as steps, one error for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx_helpers import example_script
from test_engine_convert import randomise_batchnorm  # tests/slow, on the path by onnx_helpers

from coexplore.export.model import export_onnx
from coexplore.hardware.engine.net import INPUT, Affine, OpKind, Relu
from coexplore.hardware.engine.reference import run_float
from coexplore.onnx_import import OnnxImportError, load_onnx_workload, onnx_workload
from coexplore.onnx_import.engine import load_onnx_engine_net, onnx_engine_net
from coexplore.slow.builders import build_model
from coexplore.spaces import ChainSpace, ImagenetSpace, Nb201Arch, Nb201Space, UnetSpace

NB201_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
)


def space_models() -> dict[str, tuple[torch.nn.Module, tuple[int, int, int]]]:
    rng = np.random.default_rng(0)
    nb201 = Nb201Space(cells_per_stage=1)
    cases: dict[str, tuple[Any, Any, tuple[int, int, int]]] = {
        "chain": (ChainSpace(depth=4), ChainSpace(depth=4).sample(rng), (1, 12, 12)),
        "nb201": (nb201, Nb201Arch.from_string(NB201_CELL), (3, 16, 16)),
        "imagenet": (ImagenetSpace(depth=5), ImagenetSpace(depth=5).sample(rng), (3, 32, 32)),
        "unet": (UnetSpace(levels=2), UnetSpace(levels=2).sample(rng), (1, 16, 16)),
    }
    models = {}
    for name, (space, arch, shape) in cases.items():
        model = build_model(space, arch, shape, 5, seed=1)
        randomise_batchnorm(model, rng)
        models[name] = (model.eval(), shape)
    script = example_script()
    torch.manual_seed(0)
    models["resnet18"] = (script.resnet18(10).eval(), (3, 32, 32))
    return models


MODELS = space_models()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_exported_model_is_its_workload_and_its_output(tmp_path: Path, name: str) -> None:
    """The spaces' children (convs of every kernel and stride, depthwise, pools, skips, a
    concat and upsampling) and ResNet-18, written by coexplore's ONNX exporter."""
    model, shape = MODELS[name]
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, shape, path)
    net = load_onnx_engine_net(path)
    theirs = load_onnx_workload(path)
    assert [x.shape_key() for x in net.workload().layers] == [x.shape_key() for x in theirs.layers]
    assert net.workload().skips == theirs.skips
    images = np.random.default_rng(1).normal(size=(3, *shape))
    with torch.no_grad():
        expected = model.double()(torch.tensor(images)).numpy()
    got = run_float(net, images).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def tensor(name: str, values: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def model_of(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray],
             shape: tuple[int, ...] = (1, 2, 6, 6)) -> onnx.ModelProto:  # fmt: skip
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    initializers = [tensor(name, values) for name, values in weights.items()]
    graph = helper.make_graph(nodes, "hand", [image], [out], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def conv(name: str, x: str, out: str, bias: bool = True, **attributes: Any) -> onnx.NodeProto:
    inputs = [x, f"{name}.w"] + ([f"{name}.b"] if bias else [])
    return helper.make_node("Conv", inputs, [out], name=name, pads=[1, 1, 1, 1], **attributes)


RNG = np.random.default_rng(7)
W = {"c0.w": RNG.normal(size=(3, 2, 3, 3)), "c0.b": RNG.normal(size=3),
     "c1.w": RNG.normal(size=(3, 3, 3, 3)), "c1.b": RNG.normal(size=3),
     "mean": RNG.normal(size=(1, 2, 1, 1)), "std": RNG.uniform(0.5, 2, (1, 2, 1, 1)),
     "g": RNG.uniform(0.5, 2, 3), "beta": RNG.normal(size=3), "mu": RNG.normal(size=3),
     "var": RNG.uniform(0.5, 2, 3)}  # fmt: skip


def float_output(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    """The graph evaluated by onnx's own reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    return np.asarray(ReferenceEvaluator(model).run(None, {"x": images.astype(np.float32)})[0])


def check_float(model: onnx.ModelProto) -> Any:
    net = onnx_engine_net(model)
    images = np.random.default_rng(2).normal(size=(2, *net.input_shape))
    expected = float_output(model, images)
    np.testing.assert_allclose(
        run_float(net, images).reshape(expected.shape), expected, rtol=1e-4, atol=1e-4
    )
    assert [x.shape_key() for x in net.workload().layers] == [
        x.shape_key() for x in onnx_workload(model).layers
    ]
    return net


def test_input_normalisation_is_the_first_convs_pre_step_and_batch_norm_folds() -> None:
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["a"]),
        helper.make_node("Div", ["a", "std"], ["b"]),
        conv("c0", "b", "c"),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["d"]),
        helper.make_node("Relu", ["d"], ["y"]),
    ]
    weights = {k: W[k] for k in ("mean", "std", "c0.w", "c0.b", "g", "beta", "mu", "var")}
    net = check_float(model_of(nodes, weights))
    (op,) = net.ops
    assert len(op.pre) == 2 and all(isinstance(s, Affine) for s in op.pre)
    assert op.post == (Relu(),)  # the batch norm is in the weights


def test_a_batch_norm_on_a_shared_result_stays_a_step_before_its_readers() -> None:
    """c's result is read by the batch norm and by the add: the batch norm cannot fold, and
    the conv reading it takes it (and the ReLU) as pre steps."""
    nodes = [
        conv("c0", "x", "c"),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["d"]),
        helper.make_node("Relu", ["d"], ["e"]),
        conv("c1", "e", "f"),
        helper.make_node("Add", ["f", "c"], ["y"]),
    ]
    weights = {k: W[k] for k in ("c0.w", "c0.b", "c1.w", "c1.b", "g", "beta", "mu", "var")}
    net = check_float(model_of(nodes, weights))
    assert [op.kind for op in net.ops] == [OpKind.CONV, OpKind.CONV, OpKind.ADD]
    assert net.ops[0].post == () and len(net.ops[1].pre) == 2
    assert net.ops[2].inputs == (1, 0)


def test_gemm_after_global_pooling_and_a_matmul_bias_fold() -> None:
    nodes = [
        conv("c0", "x", "c"),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "m"], ["g"]),
        helper.make_node("Add", ["g", "mb"], ["y"]),
    ]
    weights = {
        "c0.w": W["c0.w"],
        "c0.b": W["c0.b"],
        "m": RNG.normal(size=(3, 4)),
        "mb": RNG.normal(size=4),
    }
    net = check_float(model_of(nodes, weights))
    assert net.ops[-1].kind is OpKind.FC and net.ops[-1].bias is not None and not net.ops[-1].post
    assert net.ops[1].kind is OpKind.GLOBAL_AVG_POOL and net.ops[0].inputs == (INPUT,)


@pytest.mark.parametrize(
    ("node", "weights", "message"),
    [
        (helper.make_node("Clip", ["x"], ["y"], name="relu6"), {}, "'relu6' (Clip): a clip"),
        (helper.make_node("Mul", ["x", "x"], ["y"], name="sq"), {}, "'sq' (Mul): computes product"),
        (helper.make_node("Softplus", ["x"], ["y"], name="soft"), {}, "'soft' (Softplus): comput"),
        (helper.make_node("Conv", ["x", "g.w"], ["y"], name="grouped", group=2, pads=[1, 1, 1, 1]),
         {"g.w": RNG.normal(size=(4, 1, 3, 3))}, "'grouped' (Conv): a conv of 2 groups"),
        (helper.make_node("MaxPool", ["x"], ["y"], name="ceil", kernel_shape=[3, 3], strides=[2, 2],
                          ceil_mode=1), {}, "'ceil' (MaxPool): ceil_mode 1"),
        (helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="linear"),
         {"scales": np.array([1, 1, 2, 2])}, "'up' (Resize): only nearest"),
    ],
)  # fmt: skip
def test_what_the_engine_cannot_run_is_one_line_naming_the_node(
    node: onnx.NodeProto, weights: dict[str, np.ndarray], message: str
) -> None:
    shape = (1, 2, 5, 5)
    with pytest.raises(OnnxImportError) as error:
        onnx_engine_net(model_of([node], weights, shape))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (helper.make_node("MaxPool", ["t"], ["y"], name="pool", kernel_shape=[2, 2]),
         "'pool' (MaxPool): reads a channels-last map"),
        (helper.make_node("Flatten", ["t"], ["y"], name="flat"), "'flat' (Flatten): reads a"),
        (helper.make_node("Transpose", ["t"], ["y"], name="again", perm=[0, 2, 3, 1]),
         "'again' (Transpose): transposes [0, 2, 3, 1]"),
    ],
)  # fmt: skip
def test_a_channels_last_map_is_read_only_by_layernorm_matmul_and_the_way_back(
    after: onnx.NodeProto, message: str
) -> None:
    """After Transpose (0, 2, 3, 1) the words are a channels-last map: a window, a reshape
    or a second transpose there would read them in another order than the engine keeps."""
    there = helper.make_node("Transpose", ["x"], ["t"], name="last", perm=[0, 2, 3, 1])
    with pytest.raises(OnnxImportError) as error:
        onnx_engine_net(model_of([there, after], {}, (1, 2, 6, 6)))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_graph_saved_without_its_weights_is_refused_naming_the_file() -> None:
    path = Path(__file__).parents[2] / "docs" / "examples" / "resnet18.onnx"
    with pytest.raises(OnnxImportError, match=r"resnet18\.onnx: its weights cannot be read"):
        load_onnx_engine_net(path)
