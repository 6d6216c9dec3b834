"""Hypothesis fuzzing of the new ops' attributes: rectangular conv and pooling windows, strides
and pads; chains of element-wise functions and gates; Transpose permutations around a
LayerNorm and its axis. Each graph reads as the workload its attributes say (MACs by formula,
or by torch's forward hooks), or is refused in one line naming the node."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper
from onnx_helpers import count_macs, graph_model
from torch import nn

from coexplore.onnx_import import OnnxImportError, onnx_workload
from coexplore.onnx_import.ops import TABLES
from coexplore.workload import LayerKind

FUZZ = settings(max_examples=80, deadline=None)
ROWS, COLS, CHANNELS = 9, 11, 4


def refused(model: object, *fragments: str) -> None:
    with pytest.raises(OnnxImportError) as caught:
        onnx_workload(model)  # type: ignore[arg-type]
    text = str(caught.value)
    assert "\n" not in text and any(f in text for f in fragments), text


def out_size(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    return (size + before + after - kernel) // stride + 1


@FUZZ
@given(
    kernel=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pads=st.tuples(*[st.integers(0, 2)] * 4),
    depthwise=st.booleans(),
    pool=st.sampled_from(["", "MaxPool", "AveragePool"]),
)
def test_rectangular_windows(kernel, strides, pads, depthwise, pool) -> None:
    if pool:  # ONNX wants a pool's pads narrower than its window
        pads = tuple(min(p, k - 1) for p, k in zip(pads, kernel * 2, strict=True))
    attrs = {"strides": list(strides), "pads": list(pads)}
    groups = CHANNELS if depthwise else 1
    if pool:
        nodes = [helper.make_node(pool, ["x"], ["y"], name="p", kernel_shape=list(kernel), **attrs)]
        weights: dict[str, list[int]] = {}
    else:
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c", group=groups, **attrs)]
        weights = {"w": [8 if groups == 1 else CHANNELS, CHANNELS // groups, *kernel]}
    model = graph_model(nodes, weights, [1, CHANNELS, ROWS, COLS])  # type: ignore[arg-type]
    rows = out_size(ROWS, kernel[0], strides[0], pads[0], pads[2])
    cols = out_size(COLS, kernel[1], strides[1], pads[1], pads[3])
    if strides[0] != strides[1]:
        return refused(model, f"stride {strides[0]}x{strides[1]} is not supported")
    if min(rows, cols) < 1:
        return refused(model, "")  # an empty output: any one-line error
    (layer,) = onnx_workload(model).layers
    assert (layer.kernel, layer.kw, layer.out_rows, layer.out_cols) == (*kernel, rows, cols)
    if pool:
        assert layer.kind is LayerKind.POOL and layer.macs == 0
    else:
        per_output = kernel[0] * kernel[1] * (CHANNELS // groups)
        assert layer.macs == weights["w"][0] * per_output * rows * cols
    return None


UNARY = ["Relu", "Sigmoid", "Tanh", "HardSigmoid", "Clip", "Erf", "Softplus", "HardSwish",
         "Gelu", "Scale", "Shift", "Identity"]  # fmt: skip


def chain_nodes(ops: list[str], source: str) -> tuple[list, str]:
    nodes, tensor = [], source
    for i, op in enumerate(ops):
        out = f"u{i}"
        if op in ("Scale", "Shift"):  # a product or sum with a constant: scaling, fused
            nodes.append(helper.make_node("Mul" if op == "Scale" else "Add", [tensor, "k"], [out]))
        elif op == "HardSigmoid":
            nodes.append(helper.make_node(op, [tensor], [out], alpha=0.2, beta=0.5))
        else:
            nodes.append(helper.make_node(op, [tensor], [out]))
        tensor = out
    return nodes, tensor


@FUZZ
@given(ops=st.lists(st.sampled_from(UNARY), max_size=5), gated=st.booleans())
def test_element_wise_chains_are_at_most_one_act_layer(ops: list[str], gated: bool) -> None:
    """f(x) or x * f(x) between two convs: one `act` layer exactly when f needs a table or
    it is a product (a gate), none when f is only what the write-back does."""
    nodes, tensor = chain_nodes(ops, "a")
    if gated:
        nodes.append(helper.make_node("Mul", ["a", tensor], ["gate"]))
        tensor = "gate"
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1] * 4), *nodes,
             helper.make_node("Conv", [tensor, "w2"], ["y"], pads=[1] * 4)]  # fmt: skip
    weights = {"w": [4, 3, 3, 3], "w2": [2, 4, 3, 3], "k": [1]}
    workload = onnx_workload(graph_model(nodes, weights, opset=20))
    acts = [x for x in workload.layers if x.kind is LayerKind.ACT]
    needs = gated or any(op in TABLES for op in ops)
    assert [x.kind for x in workload.layers if x.kind is not LayerKind.ACT] == [LayerKind.CONV] * 2
    assert len(acts) == int(needs) and all(x.function for x in acts)
    assert workload.macs == 4 * 27 * 64 + 2 * 36 * 64 and workload.skips == ()


@FUZZ
@given(perm=st.permutations([0, 1, 2, 3]), axis=st.integers(-4, 3))
def test_layer_norm_only_over_the_channels_of_a_channels_last_map(perm, axis) -> None:
    back = [perm.index(i) for i in range(4)]  # the inverse permutation
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1] * 4),
             helper.make_node("Transpose", ["a"], ["t"], perm=list(perm)),
             helper.make_node("LayerNormalization", ["t", "g"], ["n"], axis=axis),
             helper.make_node("Transpose", ["n"], ["y"], perm=back)]  # fmt: skip
    normalised = [4, 8, 8][perm[axis] - 1 :] if perm[axis] else [1, 4, 8, 8]
    model = graph_model(nodes, {"w": [4, 3, 3, 3], "g": normalised})
    if list(perm) == [0, 1, 2, 3]:  # no transpose at all: a LayerNorm over NCHW axes
        return refused(model, "transposes", "normalises")
    if list(perm) != [0, 2, 3, 1]:
        return refused(model, "transposes")
    if axis not in (-1, 3):
        return refused(model, "normalises axes")
    workload = onnx_workload(model)
    assert [x.kind for x in workload.layers] == [LayerKind.CONV, LayerKind.NORM]
    return None


def export(model: nn.Module, path: Path, shape: tuple[int, int, int]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), str(path), dynamo=False,
                          opset_version=17)  # fmt: skip
    return path


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kernel=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    stride=st.integers(1, 2),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    depthwise=st.booleans(),
)
def test_torch_rectangular_convs_equal_the_hook_count(
    tmp_path: Path, kernel, stride, padding, depthwise
) -> None:
    groups = 4 if depthwise else 1
    model = nn.Sequential(nn.Conv2d(4, 4, kernel, stride, padding, groups=groups), nn.SiLU())
    from coexplore.onnx_import import load_onnx_workload

    workload = load_onnx_workload(export(model, tmp_path / "rect.onnx", (4, 12, 10)))
    assert workload.macs == count_macs(model, (4, 12, 10))
    assert (workload.layers[0].kernel, workload.layers[0].kw) == kernel
