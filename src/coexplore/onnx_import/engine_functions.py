"""Element-wise functions as ONNX spells them, for the engine net (`onnx_import.engine`).

An exporter writes one activation in many ways: SiLU as Sigmoid and Mul, hard-swish as its own
op or as Add, Clip, Div and Mul, GELU as one op, as erf, adds and products, or as the tanh
approximation. The engine reader holds such a chain as an `Expr` of its base (the value a layer
wrote, with the steps before the chain) and, when a layer reads it, places one `act` op whose
function is the one the chain computes: the chain is evaluated on a grid and compared with
each function the engine has (`identify`), so `x * clip(x + 3, 0, 6) / 6` is hard-swish
whatever order its constants come in, and a chain that is none of them is refused by name.

Whether a chain is a layer at all follows the workload reader (`onnx_import.elementwise`): it
is when it holds a table op or a product of two functions of one base (`needs_layer`); a chain
of comparisons and constants alone (a Clip) is free there, and the engine has no clip step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coexplore.hardware.engine.functions import float_function, float_hard_sigmoid
from coexplore.hardware.engine.net import ACT_FUNCTIONS, Affine, HardSigmoid, Relu, Step
from coexplore.onnx_import.elementwise import function_name
from coexplore.onnx_import.ops import Function

FloatArray = npt.NDArray[np.float64]
Evaluate = Callable[[FloatArray], FloatArray]
GRID = np.linspace(-10.0, 10.0, 4001)  # where chains are compared with the engine's functions
TOLERANCE = 1e-3  # GELU's tanh approximation is within 5e-4 of its erf form, which it computes


def _erf(x: FloatArray) -> FloatArray:
    from scipy.special import erf

    return np.asarray(erf(x))


def _gelu_tanh(x: FloatArray) -> FloatArray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _table_op(op: str, approximate: str = "none") -> Evaluate:
    """A table op (`ops.TABLES`) in float64; NaN for one no engine function is made of."""
    if op == "Gelu":
        return _gelu_tanh if approximate == "tanh" else lambda x: float_function("gelu", x)
    known: dict[str, Evaluate] = {
        "Sigmoid": lambda x: float_function("sigmoid", x),
        "Tanh": np.tanh,
        "Erf": _erf,
        "HardSwish": lambda x: float_function("hswish", x),
        "Softplus": lambda x: np.logaddexp(0.0, x),
    }
    return known.get(op, lambda x: np.full_like(x, np.nan))


@dataclass(frozen=True)
class Expr:
    """f(base), element-wise: how it evaluates, and what the workload reader sees in it."""

    evaluate: Evaluate
    tables: tuple[str, ...] = ()
    gates: int = 0
    clipped: bool = False
    maker: str = ""  # the node that last changed it: an act op's name
    maker_op: str = ""  # that node's op type (for messages)

    @property
    def needs_layer(self) -> bool:
        return bool(self.tables) or self.gates > 0

    @property
    def workload_name(self) -> str:
        return function_name(Function("", self.tables, self.gates, self.clipped))

    @property
    def label(self) -> str:
        """The maker as messages name a node: 'name' (Op)."""
        return f"{self.maker!r} ({self.maker_op})"

    def then(
        self, evaluate: Evaluate, maker: tuple[str, str], table: str = "", clip: bool = False
    ) -> Expr:
        """This chain, then `evaluate`, made by the node `maker` (name, op type)."""
        inner = self.evaluate
        tables = (*self.tables, table) if table and table not in self.tables else self.tables
        return Expr(lambda x: evaluate(inner(x)), tables, self.gates, self.clipped or clip,
                    *maker)  # fmt: skip


IDENTITY = Expr(lambda x: x)


def start(op: str, maker: tuple[str, str], approximate: str = "none") -> Expr:
    """A table op on a plain value."""
    return IDENTITY.then(_table_op(op, approximate), maker, table=op)


def clip(low: float, high: float) -> Evaluate:
    return lambda x: np.clip(x, low, high)


def step_function(step: Step) -> Evaluate | None:
    """A step as a function of one value: None for an affine that differs by channel."""
    if isinstance(step, Relu):
        return lambda x: np.maximum(x, 0.0)
    if isinstance(step, HardSigmoid):
        return float_hard_sigmoid
    assert isinstance(step, Affine)
    if np.ptp(step.scale) or np.ptp(step.shift):
        return None
    scale, shift = float(step.scale[0]), float(step.shift[0])
    return lambda x: x * scale + shift


def after_steps(expr: Expr | None, steps: tuple[Step, ...]) -> Expr | None:
    """`expr` (None: the identity) applied after `steps`, as one chain; None when a step
    differs by channel (a chain is one function of one value)."""
    functions = [step_function(s) for s in steps]
    if any(f is None for f in functions):
        return None

    def evaluate(x: FloatArray) -> FloatArray:
        for function in functions:
            assert function is not None
            x = function(x)
        return expr.evaluate(x) if expr is not None else x

    base = expr or IDENTITY
    return Expr(evaluate, base.tables, base.gates, base.clipped, base.maker, base.maker_op)


def combine(op: str, left: Expr, right: Expr, maker: tuple[str, str]) -> Expr:
    """Two chains of one base joined by Add, Sub, Mul or Div (a gate: x * sigmoid(x))."""
    ops: dict[str, Callable[[FloatArray, FloatArray], FloatArray]] = {
        "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
    }  # fmt: skip
    joined = ops[op]
    tables = tuple(dict.fromkeys(left.tables + right.tables))
    return Expr(
        lambda x: joined(left.evaluate(x), right.evaluate(x)),
        tables,
        left.gates + right.gates + 1,
        left.clipped or right.clipped,
        *maker,
    )


def identify(expr: Expr, names: tuple[str, ...] = ACT_FUNCTIONS) -> str | None:
    """The engine function (of `names`) the chain computes on GRID, within TOLERANCE."""
    with np.errstate(all="ignore"):
        values = expr.evaluate(GRID.copy())
    for name in names:
        if np.all(np.abs(values - float_function(name, GRID)) <= TOLERANCE):
            return name
    return None
