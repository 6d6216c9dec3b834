"""Shared by the ONNX tests: the example script as a module, tiny hand-made graphs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "docs" / "examples"
sys.path.insert(0, str(ROOT / "tests" / "slow"))
from test_slow_builders import count_macs  # noqa: E402  (the torch forward-hook MAC count)

__all__ = ["EXAMPLES", "count_macs", "example_script", "graph_model"]


def example_script(name: str = "onnx_models") -> ModuleType:
    """docs/examples/NAME.py, imported from its path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def graph_model(
    nodes: list[onnx.NodeProto],
    weights: dict[str, list[int]],
    input_dims: list[int | str] | None = None,
    output: str = "y",
    opset: int = 18,
) -> onnx.ModelProto:
    """A model with image input "x" (1x3x8x8 unless given) and float weights of these shapes."""
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims or [1, 3, 8, 8])
    out = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
    initializers = [
        helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * _count(dims))
        for name, dims in weights.items()
    ]
    graph = helper.make_graph(nodes, "test", [image], [out], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _count(dims: list[int]) -> int:
    total = 1
    for d in dims:
        total *= d
    return total
