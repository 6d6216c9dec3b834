"""A network as the engine runs it ("engine net"): ops in execution order, with their weights.

Where `coexplore.workload` says what each layer costs, an engine net says what each layer
computes: the weights (batch norm folded in where it follows a convolution directly), the
element-wise steps fused into a layer (ReLU, a per-channel affine where a batch norm cannot be
folded) and which earlier tensors each op reads. Its `workload()` equals the search space's own
workload layer for layer, so a hardware design's partition of layers into FPGAs applies 1:1 to
the ops (tests/slow/test_engine_convert.py checks it for every space).

Numpy only: the fixed-point arithmetic (`coexplore.hardware.engine.reference`) and a later HLS
exporter read it without torch; `coexplore.slow.engine_convert` makes one from a trained model.
Tensors are (channels, rows, cols) per image; weights are float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from coexplore.errors import InputError
from coexplore.workload import Layer, LayerKind, Workload

FloatArray = npt.NDArray[np.float64]
Shape = tuple[int, int, int]  # channels, rows, cols

INPUT = -1  # an op input that is the network's input tensor
ZEROS = -2  # an op input that is an all-zero tensor (a NAS-Bench-201 node nothing feeds)


class OpKind(StrEnum):
    CONV = "conv"  # `groups` as in torch: 1 is a full convolution, in == out == groups depthwise
    FC = "fc"  # reads its input flattened in (channel, row, col) order
    MAX_POOL = "max_pool"  # padding positions take no part in the maximum
    AVG_POOL = "avg_pool"  # divisor: kernel**2 with count_include_pad, else the positions inside
    GLOBAL_AVG_POOL = "global_avg_pool"  # the mean over all rows x cols, per channel
    ADD = "add"  # element-wise sum of its inputs (all of one shape)
    CONCAT = "concat"  # channels of its inputs, in input order
    UPSAMPLE = "upsample"  # nearest neighbour by the integer factor out_rows / in_rows
    ACT = "act"  # y = f(x) per word, f one of ACT_FUNCTIONS (a table, or hard-swish exactly)
    SCALE = "scale"  # inputs (map, gate): map[c] * g(gate[c]), g one of GATE_FUNCTIONS
    NORM = "norm"  # LayerNorm over the channels of each pixel, gain (weight) and shift (bias)


WINDOWED = (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL)
WEIGHTED = (OpKind.CONV, OpKind.FC)
MULTI_INPUT = (OpKind.ADD, OpKind.CONCAT, OpKind.SCALE)
# Ops whose result is a new value that needs a format of its own; the rest move words.
COMPUTING = (
    OpKind.CONV, OpKind.FC, OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL, OpKind.ADD, OpKind.ACT,
    OpKind.SCALE, OpKind.NORM,
)  # fmt: skip
# What an `act` op computes (docs/fixed-point.md): sigmoid and tanh from a table of the
# function, SiLU and GELU (erf form) as x times a table of the gate (sigmoid, the normal CDF),
# hard-swish x * relu6(x + 3) / 6 exactly.
ACT_FUNCTIONS = ("sigmoid", "tanh", "silu", "gelu", "hswish")
# What a `scale` op applies to its gate values first: nothing (a hard-sigmoid gate is a step of
# the op that made them), or a table of sigmoid or tanh.
GATE_FUNCTIONS = ("", "sigmoid", "tanh")


@dataclass(frozen=True)
class Relu:
    """max(x, 0), element-wise."""


@dataclass(frozen=True)
class HardSigmoid:
    """relu6(x + 3) / 6 = clamp(x / 6 + 1 / 2, 0, 1), element-wise: torch's Hardsigmoid, the
    gate of MobileNetV3's squeeze-and-excitation (exact in integers, a format of its own)."""


@dataclass(frozen=True, eq=False)
class Affine:
    """x * scale[c] + shift[c] per channel c: a batch norm that cannot be folded into a conv."""

    scale: FloatArray
    shift: FloatArray

    def __post_init__(self) -> None:
        if self.scale.shape != self.shift.shape or self.scale.ndim != 1:
            raise InputError("affine: scale and shift must be vectors of one length")


# An element-wise step fused into an op: what the engine's write-back (or its input read)
# does with a comparator and a constant multiply. Functions that need a table or a product of
# two words (sigmoid, SiLU, hard-swish, ...) are `act` ops of their own.
Step = Relu | Affine | HardSigmoid


@dataclass(frozen=True, eq=False)
class EngineOp:
    """One op. `pre` steps apply to the input as read (NAS-Bench-201's ReLU-Conv-BN), `post`
    steps to the result before it is written back (the chain's Conv-ReLU-BN), in order."""

    kind: OpKind
    inputs: tuple[int, ...]  # earlier op indices, INPUT or ZEROS
    in_shape: Shape  # what it reads (concat: the channels of all inputs)
    out_shape: Shape
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    weight: FloatArray | None = None  # conv (M, N // groups, K, K), fc (M, N)
    bias: FloatArray | None = None  # (M,)
    pre: tuple[Step, ...] = ()
    post: tuple[Step, ...] = ()
    count_include_pad: bool = False  # avg_pool only
    batchnorm: bool = False  # a batch norm belongs to it (folded, or an affine step)
    name: str = ""
    kernel_cols: int = 0  # windows: Kw, the kernel's columns (0: square, Kw = kernel)
    padding_cols: int = -1  # windows: zero columns left and right (-1: padding)
    function: str = ""  # act: one of ACT_FUNCTIONS; scale: one of GATE_FUNCTIONS
    eps: float = 0.0  # norm: added to the variance

    def __post_init__(self) -> None:
        if not self.inputs:
            raise InputError(f"op {self.name}: needs at least one input (ZEROS for none)")
        if len(self.inputs) > 1 and self.kind not in MULTI_INPUT:
            raise InputError(f"op {self.name}: a {self.kind} reads one input")
        if self.kind is OpKind.SCALE and len(self.inputs) != 2:
            raise InputError(f"op {self.name}: a scale reads a map and its gate")
        if self.pre and len(self.inputs) > 1:
            raise InputError(f"op {self.name}: steps on the input need a single input")
        expected = _out_shape(self)
        if expected != self.out_shape:
            raise InputError(f"op {self.name}: output {self.out_shape}, expected {expected}")
        _check_function(self)
        _check_weights(self)
        _check_steps(self.pre, self.in_shape[0], self.name)
        _check_steps(self.post, self.out_shape[0], self.name)

    @property
    def kw(self) -> int:
        """The kernel's columns (Kw); `kernel` is its rows (Kh)."""
        return self.kernel_cols or self.kernel

    @property
    def pw(self) -> int:
        """Zero columns on the left and on the right; `padding` is the rows above and below."""
        return self.padding if self.padding_cols < 0 else self.padding_cols

    @property
    def in_features(self) -> int:
        return self.in_shape[0] * self.in_shape[1] * self.in_shape[2]

    @property
    def upsample_factor(self) -> int:
        return self.out_shape[1] // self.in_shape[1]

    def layer(self) -> Layer:
        """The workload layer of this op (what the hardware model costs)."""
        (n, in_rows, in_cols), (m, rows, cols) = self.in_shape, self.out_shape
        bias, bn, name = self.bias is not None, self.batchnorm, self.name
        if self.kind in _STREAMING:
            return Layer(_STREAMING[self.kind], n, m, rows, cols, bias=bias, batchnorm=bn,
                         name=name, function=self.function)  # fmt: skip
        if self.kind is OpKind.FC:
            return Layer(LayerKind.FC, self.in_features, m, 1, 1, bias=bias, batchnorm=bn,
                         name=name)  # fmt: skip
        if self.kind is OpKind.GLOBAL_AVG_POOL:
            window = max(in_rows, in_cols)
            return Layer(LayerKind.POOL, n, m, 1, 1, window, window, in_rows, in_cols, bias, bn,
                         name)  # fmt: skip
        kind = _LAYER_KINDS.get(self.kind) or self._conv_kind()
        k, s = (self.kernel, self.stride) if self.kind in WINDOWED else (1, 1)
        kw = self.kw if self.kind in WINDOWED else 0
        return Layer(kind, n, m, rows, cols, k, s, in_rows, in_cols, bias, bn, name, kw)

    def _conv_kind(self) -> LayerKind:
        n, m = self.in_shape[0], self.out_shape[0]
        if self.groups == 1:
            return LayerKind.CONV
        if self.groups == n == m:
            return LayerKind.DWCONV
        raise InputError(f"op {self.name}: a conv of {self.groups} groups has no workload layer")


_LAYER_KINDS = {
    OpKind.MAX_POOL: LayerKind.POOL,
    OpKind.AVG_POOL: LayerKind.POOL,
    OpKind.ADD: LayerKind.ADD,
    OpKind.CONCAT: LayerKind.CONCAT,
    OpKind.UPSAMPLE: LayerKind.UPSAMPLE,
}
_STREAMING = {OpKind.ACT: LayerKind.ACT, OpKind.SCALE: LayerKind.SCALE, OpKind.NORM: LayerKind.NORM}


def window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output extent of a window sliding over `size` with zero padding on both sides (floor)."""
    return (size + 2 * padding - kernel) // stride + 1


def _out_shape(op: EngineOp) -> Shape:
    channels, rows, cols = op.in_shape
    if op.kind in WINDOWED:
        kh, kw, ph, pw = op.kernel, op.kw, op.padding, op.pw
        if min(kh, kw, op.stride) < 1 or not (0 <= ph < kh and 0 <= pw < kw):
            raise InputError(f"op {op.name}: kernel, stride >= 1 and 0 <= padding < kernel")
        m = op.out_shape[0] if op.kind is OpKind.CONV else channels
        s = op.stride
        return (m, window_out(rows, kh, s, ph), window_out(cols, kw, s, pw))
    if op.kind is OpKind.FC:
        return (op.out_shape[0], 1, 1)
    if op.kind is OpKind.GLOBAL_AVG_POOL:
        return (channels, 1, 1)
    if op.kind is OpKind.UPSAMPLE:
        factor = max(1, op.out_shape[1] // max(rows, 1))
        return (channels, rows * factor, cols * factor)
    return op.in_shape  # add, concat


def _check_function(op: EngineOp) -> None:
    allowed = {OpKind.ACT: ACT_FUNCTIONS, OpKind.SCALE: GATE_FUNCTIONS}.get(op.kind, ("",))
    if op.function not in allowed:
        raise InputError(
            f"op {op.name}: a {op.kind} computes none of {allowed}, not {op.function!r}"
        )
    if op.kind is OpKind.NORM and not op.eps > 0:
        raise InputError(f"op {op.name}: a norm needs eps > 0 (got {op.eps})")


def _check_weights(op: EngineOp) -> None:
    if op.kind is OpKind.NORM:
        _check_norm(op)
        return
    if op.kind not in WEIGHTED:
        if op.weight is not None or op.bias is not None:
            raise InputError(f"op {op.name}: a {op.kind} has no weights")
        return
    m, n = op.out_shape[0], op.in_shape[0]
    if op.kind is OpKind.FC:
        shape: tuple[int, ...] = (m, op.in_features)
    elif n % op.groups or m % op.groups:
        raise InputError(f"op {op.name}: {op.groups} groups do not divide {n} -> {m} channels")
    else:
        shape = (m, n // op.groups, op.kernel, op.kw)
    if op.weight is None or op.weight.shape != shape:
        got = None if op.weight is None else op.weight.shape
        raise InputError(f"op {op.name}: weight shape {got}, expected {shape}")
    if op.bias is not None and op.bias.shape != (m,):
        raise InputError(f"op {op.name}: bias shape {op.bias.shape}, expected ({m},)")


def _check_norm(op: EngineOp) -> None:
    """A norm's gain (weight) and optional shift (bias): one per channel."""
    channels = (op.in_shape[0],)
    if op.weight is None or op.weight.shape != channels:
        got = None if op.weight is None else op.weight.shape
        raise InputError(f"op {op.name}: norm gain shape {got}, expected {channels}")
    if op.bias is not None and op.bias.shape != channels:
        raise InputError(f"op {op.name}: norm shift shape {op.bias.shape}, expected {channels}")


def _check_steps(steps: tuple[Step, ...], channels: int, name: str) -> None:
    for step in steps:
        if isinstance(step, Affine) and step.scale.shape != (channels,):
            raise InputError(f"op {name}: affine of {step.scale.shape[0]} for {channels} channels")


@dataclass(frozen=True, eq=False)
class EngineNet:
    """Ops in execution order; the last op's output is the network's (logits per class, per
    pixel for segmentation)."""

    input_shape: Shape
    ops: tuple[EngineOp, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.ops:
            raise InputError("an engine net needs at least one op")
        for index, op in enumerate(self.ops):
            shapes = [self.shape_of(p, index, op.in_shape) for p in op.inputs]
            _check_inputs(op, shapes)

    def shape_of(self, producer: int, consumer: int, zeros: Shape) -> Shape:
        """The shape of tensor `producer` as op `consumer` reads it."""
        if producer == INPUT:
            return self.input_shape
        if producer == ZEROS:
            return zeros
        if not 0 <= producer < consumer:
            raise InputError(f"op {consumer} reads {producer}: not an earlier op")
        return self.ops[producer].out_shape

    @property
    def output_shape(self) -> Shape:
        return self.ops[-1].out_shape

    def workload(self) -> Workload:
        """The layers the hardware side costs, one per op, with the skips (an input other than
        the previous op's output crosses a pipeline cut between its producer and consumer)."""
        skips = [
            (p, i)
            for i, op in enumerate(self.ops)
            for p in sorted(set(op.inputs))
            if 0 <= p != i - 1
        ]
        layers = tuple(op.layer() for op in self.ops)
        return Workload(layers, self.input_shape, tuple(skips), self.name)


def _check_inputs(op: EngineOp, shapes: list[Shape]) -> None:
    if op.kind is OpKind.SCALE:
        gate = (op.in_shape[0], 1, 1)
        if shapes != [op.in_shape, gate]:
            raise InputError(
                f"op {op.name}: a scale reads {shapes}, expected {op.in_shape}, {gate}"
            )
        return
    if op.kind is OpKind.CONCAT:
        rows_cols = {s[1:] for s in shapes}
        combined = (sum(s[0] for s in shapes), *shapes[0][1:])
        if len(rows_cols) != 1 or combined != op.in_shape:
            raise InputError(f"op {op.name}: concat of {shapes} does not give {op.in_shape}")
        return
    for shape in shapes:
        if shape != op.in_shape:
            raise InputError(f"op {op.name}: reads {shape}, expected {op.in_shape}")


def format_sites(op: EngineOp) -> tuple[tuple[int, int], ...]:
    """Where an op starts a new fixed-point format, as (start, observed) positions in its
    sequence pre steps, core, post steps (the core is at len(op.pre)).

    A format starts at each affine or hard-sigmoid step and at the core of a computing op; ReLUs
    after it keep it, so its range is observed after the last of them (a ReLU after the core
    makes negative values irrelevant to the format). Format-preserving cores (max pool,
    upsample, concat) start none.
    """
    kinds = [*(_step_kind(s) for s in op.pre), "core", *(_step_kind(s) for s in op.post)]
    sites = []
    for start, kind in enumerate(kinds):
        if kind == "new" or (kind == "core" and op.kind in COMPUTING):
            end = start
            while end + 1 < len(kinds) and kinds[end + 1] == "relu":
                end += 1
            sites.append((start, end))
    return tuple(sites)


def _step_kind(step: Step) -> str:
    """'relu' for a step that keeps its input's format, 'new' for one that starts its own."""
    return "relu" if isinstance(step, Relu) else "new"
