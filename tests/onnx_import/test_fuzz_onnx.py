"""Fuzzing ONNX input: truncated or corrupted files, unknown ops, missing shapes and weights
end in a workload or a one-line OnnxImportError (and on the command line, one line on stderr
with exit status 2); never a traceback."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper
from onnx_helpers import EXAMPLES, graph_model
from typer.testing import CliRunner

from coexplore.cli import app
from coexplore.onnx_import import OnnxImportError, load_onnx_workload
from coexplore.workload import Workload

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def small_model() -> onnx.ModelProto:
    """Every kind the reader makes: conv, BN, activation, pool, add, concat, resize, FC."""
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["a"], name="c0", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a", "s", "s", "s", "s"], ["an"], name="bn"),
        helper.make_node("Relu", ["an"], ["ar"], name="relu"),
        helper.make_node("Conv", ["ar", "w1"], ["b"], name="c1", pads=[1, 1, 1, 1], group=4),
        helper.make_node("Add", ["b", "ar"], ["s1"], name="add"),
        helper.make_node(
            "MaxPool", ["s1"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Resize", ["p", "", "scales"], ["u"], name="up", mode="nearest"),
        helper.make_node("Concat", ["u", "ar"], ["c"], name="cat", axis=1),
        helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", transB=1),
    ]
    weights = {"w0": [4, 3, 3, 3], "b0": [4], "s": [4], "w1": [4, 1, 3, 3], "fc": [5, 8],
               "fcb": [5]}  # fmt: skip
    model = graph_model(nodes, weights)
    model.graph.initializer.append(helper.make_tensor("scales", 1, [4], [1.0, 1.0, 2.0, 2.0]))
    return model


SMALL = small_model().SerializeToString()
RESNET = (EXAMPLES / "resnet18.onnx").read_bytes()
ORIGINAL_MACS = 3 * 4 * 9 * 64 + 4 * 9 * 64 + 8 * 5
OPS = ["Conv", "Relu", "LSTM", "Einsum", "Add", "Mul", "Concat", "Gemm", "Resize", "Shape", "",
       "Sigmoid", "HardSwish", "Transpose", "LayerNormalization", "Div", "MatMul"]  # fmt: skip


def read(path: Path) -> Workload | None:
    """The workload, or None after a one-line OnnxImportError; anything else fails the test."""
    try:
        return load_onnx_workload(path)
    except OnnxImportError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
        return None


def test_the_fuzzed_models_are_valid_to_begin_with(tmp_path: Path) -> None:
    (tmp_path / "small.onnx").write_bytes(SMALL)
    workload = read(tmp_path / "small.onnx")
    assert workload is not None and len(workload) == 8 and workload.skips == ((0, 2), (0, 5))


@FUZZ
@given(base=st.sampled_from([SMALL, RESNET]), cut=st.floats(0, 1, exclude_max=True))
def test_truncated_files(tmp_path: Path, base: bytes, cut: float) -> None:
    path = tmp_path / "cut.onnx"
    path.write_bytes(base[: int(cut * len(base))])
    read(path)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8)
)
def test_corrupted_bytes(tmp_path: Path, edits: list[tuple[float, int]]) -> None:
    data = bytearray(SMALL)
    for where, value in edits:
        data[int(where * len(data))] = value
    path = tmp_path / "flip.onnx"
    path.write_bytes(bytes(data))
    read(path)


@FUZZ
@given(
    renames=st.lists(st.tuples(st.integers(0, 10), st.sampled_from(OPS) | st.text(max_size=6))),
    drop_weights=st.sets(st.sampled_from(["w0", "b0", "s", "w1", "fc", "fcb", "scales"])),
    symbolic_dims=st.sets(st.integers(0, 3)),
    drop_attributes=st.booleans(),
)
def test_unknown_ops_and_missing_shapes(
    tmp_path: Path,
    renames: list[tuple[int, str]],
    drop_weights: set[str],
    symbolic_dims: set[int],
    drop_attributes: bool,
) -> None:
    model = small_model()
    for index, op in renames:
        model.graph.node[index].op_type = op
        if drop_attributes:
            del model.graph.node[index].attribute[:]
    kept = [t for t in model.graph.initializer if t.name not in drop_weights]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    for axis in symbolic_dims:
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = f"d{axis}"
    path = tmp_path / "edited.onnx"
    path.write_bytes(model.SerializeToString())
    workload = read(path)
    if renames:
        return  # anything may happen, as long as it is a workload or one line
    shapes_known = not symbolic_dims & {1, 2, 3} and not drop_weights & {"w0", "w1", "fc", "scales"}
    assert (workload is not None) == shapes_known
    if workload is not None:
        assert workload.macs == ORIGINAL_MACS


runner = CliRunner()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0, 1, exclude_max=True), op=st.sampled_from(OPS))
def test_estimate_command_on_broken_onnx(tmp_path: Path, cut: float, op: str) -> None:
    model = small_model()
    model.graph.node[int(cut * 11)].op_type = op
    data = model.SerializeToString()
    path = tmp_path / "net.onnx"
    path.write_bytes(data[: max(1, int(cut * len(data)))] if op == "" else data)
    result = runner.invoke(app, ["estimate", str(path), "--pool", "1xXC7Z020"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
    else:
        assert result.exit_code in (0, 1), result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "no graph nodes"), (b"\x08\x07garbage", "not an ONNX model")],
)
def test_empty_and_garbage_files_say_so(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.onnx"
    path.write_bytes(content)
    with pytest.raises(OnnxImportError, match=message):
        load_onnx_workload(path)
