"""What each FPGA of a design holds: its feature memory, its parameter words, its layer table.

`plan_design(qnet, design)` splits a quantised engine net (`hardware.engine.quantise.QuantNet`)
into the FPGAs of a hardware design (ops 1:1 with workload layers, so a stage's layer range is
its op range). Per FPGA:

- its feature memory (the board's DRAM, an arena of words): a region for every tensor its ops
  read or write (the image, tensors of earlier FPGAs it receives, an all-zero tensor when an op
  reads `ZEROS`, and its own ops' results), each at a fixed offset;
- its parameter memory: weights, biases and affine scales and shifts of its ops as words, one
  array per FPGA (`params`), with their offsets;
- its layer table (`LayerRow`, field for field the C++ `cx::Layer`);
- its input buffer: the design's (Tr - 1) Smax + Khmax rows and (Tc - 1) Smax + Kwmax
  columns per lane, unless a pooling layer's window needs more (the cycle model's buffer
  sizing counts convolutions only; `enlarged_by` names the layer);
- the streaming layers' buffers: a function table, a scale's gate values, a norm's per-pixel
  statistics (sized for its largest such layer).

Numpy only; the C++ text is `hardware.hls.emit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coexplore.errors import InputError
from coexplore.hardware.accelerator import Tiling, compute_cycles, window_limits
from coexplore.hardware.engine.fixed import IntArray
from coexplore.hardware.engine.functions import norm_frac
from coexplore.hardware.engine.net import INPUT, ZEROS, EngineNet, EngineOp, OpKind, Relu
from coexplore.hardware.engine.quantise import QAffine, QHardSigmoid, QOp, QStep, QuantNet
from coexplore.hardware.pipeline import HardwareDesign, StageDesign

# cx::Kind in cx_engine.h
KINDS = {"conv": 0, "dwconv": 1, "fc": 2, "max_pool": 3, "avg_pool": 4, "add": 5, "concat": 6,
         "upsample": 7, "act": 8, "scale": 9, "norm": 10}  # fmt: skip
STEP_NONE, STEP_RELU, STEP_AFFINE, STEP_HSIGMOID = 0, 1, 2, 3
# cx::Function: what an act computes, or a scale applies to its gate values
FUNCTIONS = {"": 0, "sigmoid": 1, "tanh": 2, "silu": 3, "gelu": 4, "hswish": 5}
WINDOW_KINDS = ("conv", "dwconv", "max_pool", "avg_pool")
STREAMING_KINDS = ("add", "concat", "upsample", "act", "scale", "norm")


@dataclass(frozen=True)
class StepRow:
    """cx::Step: a ReLU, or an affine step with its formats and parameter offsets."""

    kind: int
    in_frac: int = 0
    scale_frac: int = 0
    shift_frac: int = 0
    out_frac: int = 0
    scale_off: int = 0
    shift_off: int = 0


@dataclass(frozen=True)
class LayerRow:
    """cx::Layer, in its field order (the emitter writes the fields in this order)."""

    kind: int
    n: int
    m: int
    in_rows: int
    in_cols: int
    rows: int
    cols: int
    k: int
    s: int
    p: int
    include_pad: int
    chan_div: int
    n_inputs: int
    in_off: tuple[int, ...]
    in_ch: tuple[int, ...]
    in_frac: tuple[int, ...]
    out_off: int
    w_off: int
    b_off: int
    has_bias: int
    core_in_frac: int
    weight_frac: int
    bias_frac: int
    core_frac: int
    n_pre: int
    n_post: int
    pre: tuple[StepRow, ...]
    post: tuple[StepRow, ...]
    kw: int  # the window's columns (k is its rows) and the zero columns on either side
    pw: int
    function: int  # FUNCTIONS
    t_off: int  # act, scale: the table's offset in the parameters
    t_frac: int  # act, scale: the table words' format; norm: the normalised value's
    eps: int  # norm: eps in the units of its variance sums


@dataclass(frozen=True)
class Region:
    tensor: int  # op index, INPUT or ZEROS
    offset: int  # words from the start of the FPGA's feature memory
    words: int


@dataclass(frozen=True, eq=False)
class FpgaPlan:
    index: int
    stage: StageDesign
    kmax: int  # the buffer window: kernel rows Khmax, columns Kwmax, stride Smax
    kmax_cols: int
    smax: int
    in_rows: int  # input buffer per lane
    in_cols: int
    gate_words: int  # the largest scale's gate values (channels); 1 when there is none
    norm_pixels: int  # the largest norm's pixels (its statistics buffer); 1 when none
    regions: tuple[Region, ...]
    params: IntArray
    rows: tuple[LayerRow, ...]
    engine_kinds: tuple[str, ...]  # per layer: conv, dwconv, fc, max_pool, ...
    modelled: tuple[int, ...]  # per layer: the cycle model's compute term
    receives: tuple[tuple[int, int], ...]  # (tensor, FPGA it comes from; -1: the host's image)
    sends: tuple[int, ...]  # its tensors that later FPGAs read, and the network's output
    param_offsets: dict[str, int] = field(default_factory=dict)  # "op.weight" -> offset
    enlarged_by: str = ""  # the layer that made the input buffer larger than the model's

    @property
    def tiling(self) -> Tiling:
        return self.stage.tiling

    @property
    def arena_words(self) -> int:
        return max((r.offset + r.words for r in self.regions), default=0)

    def offset(self, tensor: int) -> int:
        return next(r.offset for r in self.regions if r.tensor == tensor)


def plan_design(qnet: QuantNet, design: HardwareDesign) -> tuple[FpgaPlan, ...]:
    """One plan per FPGA of `design` for `qnet`; InputError (one line) for a design that does
    not cover the net's ops or an op the engine does not run."""
    net = qnet.net
    if design.precision.word_bits != qnet.bits or design.precision.value == "fp32":
        raise InputError(
            f"the design computes in {design.precision.value}, the net is quantised to "
            f"{qnet.bits}-bit words"
        )
    if not design.stages or design.stages[-1].last_layer != len(net.ops) - 1:
        raise InputError(f"the design's stages do not cover the net's {len(net.ops)} layers")
    owner = {
        i: f for f, s in enumerate(design.stages) for i in range(s.first_layer, s.last_layer + 1)
    }
    return tuple(_plan_fpga(qnet, f, stage, owner) for f, stage in enumerate(design.stages))


def engine_kind(op: EngineOp, index: int) -> str:
    """The engine's layer kind of an op; InputError naming the layer when it has none."""
    if op.kind is OpKind.CONV:
        n, m = op.in_shape[0], op.out_shape[0]
        if op.groups == 1:
            return "conv"
        if op.groups == n == m:
            return "dwconv"
        raise InputError(
            f"layer {index} ({op.name or 'conv'}): a conv of {op.groups} groups is not an "
            "engine layer (full or depthwise only)"
        )
    if op.kind is OpKind.GLOBAL_AVG_POOL:
        return "avg_pool"
    if op.pre and op.kind in (OpKind.ADD, OpKind.CONCAT):  # the engine reads their inputs raw
        raise InputError(
            f"layer {index} ({op.name or op.kind.value}): steps on the inputs of an add or "
            "concat are not supported by the engine"
        )
    return op.kind.value


def _plan_fpga(qnet: QuantNet, index: int, stage: StageDesign, owner: dict[int, int]) -> FpgaPlan:
    net = qnet.net
    ops = range(stage.first_layer, stage.last_layer + 1)
    kinds = tuple(engine_kind(net.ops[i], i) for i in ops)
    layers = [net.ops[i].layer() for i in ops]
    window = window_limits(tuple(layers))  # Khmax, Kwmax, Smax
    in_rows, in_cols, enlarged = _input_buffer(net.ops, ops, stage.tiling, window)
    receives = tuple(
        (t, -1 if t == INPUT else owner[t])
        for t in sorted({p for i in ops for p in net.ops[i].inputs})
        if t != ZEROS and (t == INPUT or owner[t] != index)
    )
    regions = _regions(qnet, ops, receives)
    params = _Params()
    rows = tuple(
        _row(net.ops[i], qnet.ops[i], kind, regions, params, i, qnet.bits)
        for i, kind in zip(ops, kinds, strict=True)
    )
    last = len(net.ops) - 1
    sends = tuple(i for i in ops if i == last or any(owner[r] > index for r in _readers(net, i)))
    return FpgaPlan(
        index=index,
        stage=stage,
        kmax=window[0],
        kmax_cols=window[1],
        smax=window[2],
        in_rows=in_rows,
        in_cols=in_cols,
        gate_words=max(
            [net.ops[i].in_shape[0] for i in ops if net.ops[i].kind is OpKind.SCALE] or [1]
        ),
        norm_pixels=max(
            [_pixels(net.ops[i]) for i in ops if net.ops[i].kind is OpKind.NORM] or [1]
        ),
        regions=tuple(regions.values()),
        params=params.words(),
        rows=rows,
        engine_kinds=kinds,
        modelled=tuple(int(compute_cycles(layer, stage.tiling)) for layer in layers),
        receives=receives,
        sends=sends,
        param_offsets=dict(params.offsets),
        enlarged_by=enlarged,
    )


def _readers(net: EngineNet, producer: int) -> list[int]:
    return [i for i, op in enumerate(net.ops) if producer in op.inputs]


def _pixels(op: EngineOp) -> int:
    return op.in_shape[1] * op.in_shape[2]


def window_need(op: EngineOp, tiling: Tiling) -> tuple[int, int]:
    """Input rows and columns per lane one tile of a windowed op reads: (Tr' - 1) S + Kh by
    (Tc' - 1) S + Kw."""
    if op.kind is OpKind.GLOBAL_AVG_POOL:
        k = max(op.in_shape[1:])
        return k, k
    if op.kind not in (OpKind.CONV, OpKind.MAX_POOL, OpKind.AVG_POOL):
        return 1, 1
    rows, cols = op.out_shape[1:]
    return (
        (min(tiling.tr, rows) - 1) * op.stride + op.kernel,
        (min(tiling.tc, cols) - 1) * op.stride + op.kw,
    )


def _input_buffer(
    ops: tuple[EngineOp, ...], indices: range, t: Tiling, window: tuple[int, int, int]
) -> tuple[int, int, str]:
    """The input buffer: (Tr-1) Smax + Khmax by (Tc-1) Smax + Kwmax words per lane as the
    model sizes it, or more where a layer's window needs more (pooling, which the model's
    window leaves out); the first such layer, named."""
    kh, kw, smax = window
    rows, cols = (t.tr - 1) * smax + kh, (t.tc - 1) * smax + kw
    enlarged = ""
    for i in indices:
        need_rows, need_cols = window_need(ops[i], t)
        if (need_rows > rows or need_cols > cols) and not enlarged:
            enlarged = f"layer {i} ({ops[i].name or ops[i].kind.value})"
        rows, cols = max(rows, need_rows), max(cols, need_cols)
    return rows, cols, enlarged


def _regions(
    qnet: QuantNet, ops: range, receives: tuple[tuple[int, int], ...]
) -> dict[int, Region]:
    net = qnet.net
    sizes: dict[int, int] = {t: _words(net.input_shape if t == INPUT else net.ops[t].out_shape)
                             for t, _ in receives}  # fmt: skip
    zero_readers = [net.ops[i] for i in ops if ZEROS in net.ops[i].inputs]
    if zero_readers:
        sizes[ZEROS] = max(_words(op.in_shape) for op in zero_readers)
    for i in ops:
        sizes[i] = _words(net.ops[i].out_shape)
    regions, offset = {}, 0
    for tensor, words in sizes.items():
        regions[tensor] = Region(tensor, offset, words)
        offset += words
    return regions


def _words(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


class _Params:
    """The parameter words of one FPGA, appended op by op."""

    def __init__(self) -> None:
        self.parts: list[IntArray] = []
        self.offsets: dict[str, int] = {}
        self.size = 0

    def add(self, key: str, words: IntArray) -> int:
        offset = self.size
        self.parts.append(np.asarray(words, dtype=np.int64).reshape(-1))
        self.offsets[key] = offset
        self.size += self.parts[-1].size
        return offset

    def words(self) -> IntArray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int64)


def _row(
    op: EngineOp,
    q: QOp,
    kind: str,
    regions: dict[int, Region],
    params: _Params,
    index: int,
    bits: int,
) -> LayerRow:
    (n, in_rows, in_cols), (m, rows, cols) = op.in_shape, op.out_shape
    k, s, p, kw, pw = op.kernel, op.stride, op.padding, op.kw, op.pw
    chan_div = 1
    if kind == "fc":
        n, in_rows, in_cols, chan_div = op.in_features, 1, 1, in_rows * in_cols
    elif op.kind is OpKind.GLOBAL_AVG_POOL:
        k = s = kw = max(in_rows, in_cols)
    elif kind in STREAMING_KINDS:
        k, s, p, kw, pw = 1, 1, 0, 1, 0
    w_off = params.add(f"{index}.weight", q.weight) if q.weight is not None else 0
    b_off = params.add(f"{index}.bias", q.bias) if q.bias is not None else 0
    t_off = params.add(f"{index}.table", q.table) if q.table is not None else 0
    t_frac = norm_frac(n, bits) if op.kind is OpKind.NORM else q.table_frac
    pre = _steps(q.pre, q.read_fracs[0], params, f"{index}.pre")
    post = _steps(q.post, q.core_frac, params, f"{index}.post")
    return LayerRow(
        kind=KINDS[kind], n=n, m=m, in_rows=in_rows, in_cols=in_cols, rows=rows, cols=cols,
        k=k, s=s, p=p, include_pad=int(op.count_include_pad), chan_div=chan_div,
        n_inputs=len(op.inputs),
        in_off=tuple(regions[t].offset for t in op.inputs),
        in_ch=tuple(_channels(op, t, regions) for t in op.inputs),
        in_frac=q.read_fracs,
        out_off=regions[index].offset, w_off=w_off, b_off=b_off, has_bias=int(q.bias is not None),
        core_in_frac=q.in_frac if len(op.inputs) == 1 else 0, weight_frac=q.weight_frac,
        bias_frac=q.bias_frac, core_frac=q.core_frac, n_pre=len(pre), n_post=len(post),
        pre=pre, post=post, kw=kw, pw=pw, function=FUNCTIONS[op.function], t_off=t_off,
        t_frac=t_frac, eps=q.eps,
    )  # fmt: skip


def _channels(op: EngineOp, tensor: int, regions: dict[int, Region]) -> int:
    """Channels of one input: a concat's inputs share its rows and columns."""
    plane = op.in_shape[1] * op.in_shape[2]
    return regions[tensor].words // plane if tensor != ZEROS else op.in_shape[0]


def _steps(steps: tuple[QStep, ...], frac: int, params: _Params, key: str) -> tuple[StepRow, ...]:
    rows = []
    for position, step in enumerate(steps):
        if isinstance(step, Relu):
            rows.append(StepRow(STEP_RELU, frac))
            continue
        if isinstance(step, QHardSigmoid):
            rows.append(StepRow(STEP_HSIGMOID, frac, out_frac=step.out_frac))
            frac = step.out_frac
            continue
        assert isinstance(step, QAffine)
        scale = params.add(f"{key}.{position}.scale", step.scale)
        shift = params.add(f"{key}.{position}.shift", step.shift)
        rows.append(StepRow(STEP_AFFINE, frac, step.scale_frac, step.shift_frac, step.out_frac,
                            scale, shift))  # fmt: skip
        frac = step.out_frac
    return tuple(rows)
