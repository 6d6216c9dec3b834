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


WINDOWED = (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL)
WEIGHTED = (OpKind.CONV, OpKind.FC)
# Ops whose result is a new value that needs a format of its own; the rest move words.
COMPUTING = (OpKind.CONV, OpKind.FC, OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL, OpKind.ADD)


@dataclass(frozen=True)
class Relu:
    """max(x, 0), element-wise."""


@dataclass(frozen=True, eq=False)
class Affine:
    """x * scale[c] + shift[c] per channel c: a batch norm that cannot be folded into a conv."""

    scale: FloatArray
    shift: FloatArray

    def __post_init__(self) -> None:
        if self.scale.shape != self.shift.shape or self.scale.ndim != 1:
            raise InputError("affine: scale and shift must be vectors of one length")


# An element-wise step fused into an op. A later issue adds sigmoid, SiLU and hard-swish here
# (each a new class the runners and `coexplore.hardware.engine.quantise` learn).
Step = Relu | Affine


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

    def __post_init__(self) -> None:
        if not self.inputs:
            raise InputError(f"op {self.name}: needs at least one input (ZEROS for none)")
        if len(self.inputs) > 1 and self.kind not in (OpKind.ADD, OpKind.CONCAT):
            raise InputError(f"op {self.name}: a {self.kind} reads one input")
        if self.pre and len(self.inputs) > 1:
            raise InputError(f"op {self.name}: steps on the input need a single input")
        expected = _out_shape(self)
        if expected != self.out_shape:
            raise InputError(f"op {self.name}: output {self.out_shape}, expected {expected}")
        _check_weights(self)
        _check_steps(self.pre, self.in_shape[0], self.name)
        _check_steps(self.post, self.out_shape[0], self.name)

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
        if self.kind is OpKind.FC:
            return Layer(LayerKind.FC, self.in_features, m, 1, 1, bias=bias, batchnorm=bn,
                         name=name)  # fmt: skip
        if self.kind is OpKind.GLOBAL_AVG_POOL:
            window = max(in_rows, in_cols)
            return Layer(LayerKind.POOL, n, m, 1, 1, window, window, in_rows, in_cols, bias, bn,
                         name)  # fmt: skip
        kind = _LAYER_KINDS.get(self.kind) or self._conv_kind()
        k, s = (self.kernel, self.stride) if self.kind in WINDOWED else (1, 1)
        return Layer(kind, n, m, rows, cols, k, s, in_rows, in_cols, bias, bn, name)

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


def window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output extent of a window sliding over `size` with zero padding on both sides (floor)."""
    return (size + 2 * padding - kernel) // stride + 1


def _out_shape(op: EngineOp) -> Shape:
    channels, rows, cols = op.in_shape
    if op.kind in WINDOWED:
        if min(op.kernel, op.stride) < 1 or not 0 <= op.padding < op.kernel:
            raise InputError(f"op {op.name}: kernel, stride >= 1 and 0 <= padding < kernel")
        m = op.out_shape[0] if op.kind is OpKind.CONV else channels
        k, s, p = op.kernel, op.stride, op.padding
        return (m, window_out(rows, k, s, p), window_out(cols, k, s, p))
    if op.kind is OpKind.FC:
        return (op.out_shape[0], 1, 1)
    if op.kind is OpKind.GLOBAL_AVG_POOL:
        return (channels, 1, 1)
    if op.kind is OpKind.UPSAMPLE:
        factor = max(1, op.out_shape[1] // max(rows, 1))
        return (channels, rows * factor, cols * factor)
    return op.in_shape  # add, concat


def _check_weights(op: EngineOp) -> None:
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
        shape = (m, n // op.groups, op.kernel, op.kernel)
    if op.weight is None or op.weight.shape != shape:
        got = None if op.weight is None else op.weight.shape
        raise InputError(f"op {op.name}: weight shape {got}, expected {shape}")
    if op.bias is not None and op.bias.shape != (m,):
        raise InputError(f"op {op.name}: bias shape {op.bias.shape}, expected ({m},)")


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

    A format starts at each affine step and at the core of a computing op; ReLUs after it keep
    it, so its range is observed after the last of them (a ReLU after the core makes negative
    values irrelevant to the format). Format-preserving cores (max pool, upsample, concat)
    start none.
    """
    kinds = [*("affine" if isinstance(s, Affine) else "relu" for s in op.pre), "core"]
    kinds += ["affine" if isinstance(s, Affine) else "relu" for s in op.post]
    sites = []
    for start, kind in enumerate(kinds):
        if kind == "affine" or (kind == "core" and op.kind in COMPUTING):
            end = start
            while end + 1 < len(kinds) and kinds[end + 1] == "relu":
                end += 1
            sites.append((start, end))
    return tuple(sites)
