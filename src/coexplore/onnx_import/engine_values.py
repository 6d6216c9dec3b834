"""What the engine net's ONNX handlers share (`engine_nodes`, `engine_streaming`): the value an
activation tensor holds while the graph is walked, an op being built, what a handler may ask
of the walk (`coexplore.onnx_import.engine`), and attribute readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import onnx

from coexplore.hardware.engine.net import Shape, Step
from coexplore.onnx_import.engine_functions import Expr
from coexplore.onnx_import.ops import node_name


@dataclass(frozen=True)
class Value:
    """An activation: the op (or INPUT) that made it, its shape, steps not yet placed."""

    producer: int
    shape: Shape
    steps: tuple[Step, ...] = ()
    flat: bool = False
    sole: bool = False  # the producer's result reaches only this tensor (a fold may change it)
    last: bool = False  # channels-last: N x H x W x C (after Transpose 0, 2, 3, 1)
    expr: Expr | None = None  # an element-wise chain after the steps, not yet an act op


@dataclass
class Draft:
    """An engine op being built: EngineOp's fields, and the values it reads."""

    fields: dict[str, Any]
    reads: list[Value]
    post: list[Step] = field(default_factory=list)


class Reader(Protocol):
    """What a handler asks of the graph walk (`coexplore.onnx_import.engine`)."""

    values: dict[str, Value]
    shapes: dict[str, Any]

    def constant(self, node: onnx.NodeProto, position: int) -> np.ndarray: ...

    def out_shape(self, node: onnx.NodeProto) -> Shape: ...

    def add_op(
        self, node: onnx.NodeProto, reads: list[Value], name: str = "", **fields: Any
    ) -> Value: ...

    def place(self, tensor: str) -> Value: ...

    def step(self, value: Value, step: Step) -> Value: ...


def ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
    return default


def text(node: onnx.NodeProto, name: str, default: str) -> str:
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else str(value)
    return default


def float_attr(node: onnx.NodeProto, name: str, default: float) -> float:
    for attribute in node.attribute:
        if attribute.name == name:
            return float(onnx.helper.get_attribute_value(attribute))
    return default


def maker(node: onnx.NodeProto) -> tuple[str, str]:
    return node_name(node), node.op_type
