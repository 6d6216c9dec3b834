"""engine.json: what an hls/ folder holds, enough to rebuild its `QuantNet` from the very words
the C++ reads (the parameter files), so that a C simulation is checked against the reference
arithmetic on the same input.

`manifest(...)` makes the JSON of a planned design; `load_engine(hls_dir)` reads it back with
the parameter words as a `LoadedEngine` (its `qnet` runs in `reference.run_integer`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.errors import InputError
from coexplore.hardware.engine.fixed import IntArray, from_words
from coexplore.hardware.engine.net import (
    Affine,
    EngineNet,
    EngineOp,
    HardSigmoid,
    OpKind,
    Relu,
    Step,
)
from coexplore.hardware.engine.quantise import QAffine, QHardSigmoid, QOp, QStep, QuantNet
from coexplore.hardware.hls.plan import FpgaPlan
from coexplore.hardware.pipeline import HardwareDesign

FORMAT = "coexplore-hls"
VERSION = 2  # 2: act, scale and norm layers, hard-sigmoid steps, rectangular windows
READABLE = (1, 2)  # version 1 has none of those: its fields read as their defaults
MANIFEST = "engine.json"


@dataclass(frozen=True, eq=False)
class LoadedEngine:
    """An exported engine read back: the net in words, the design, and what the host writes."""

    qnet: QuantNet
    design: HardwareDesign
    outputs: tuple[tuple[int, int], ...]  # (FPGA, op) per output tensor, in the host's order
    modelled: tuple[int, ...]  # per layer: the cycle model's compute term
    layers_per_fpga: tuple[int, ...]
    info: dict[str, Any]  # the whole engine.json


def params_file(fpga: int) -> str:
    return f"fpga{fpga}_params.bin"


def outputs_of(plans: tuple[FpgaPlan, ...]) -> list[tuple[int, int]]:
    return [(p.index, t) for p in plans for t in p.sends]


def manifest(
    qnet: QuantNet,
    design: HardwareDesign,
    plans: tuple[FpgaPlan, ...],
    devices: list[dict[str, Any]],
    source: dict[str, Any],
) -> dict[str, Any]:
    owner = {i: p for p in plans for i in range(p.stage.first_layer, p.stage.last_layer + 1)}
    ops = [
        _op_json(i, op, q, owner[i])
        for i, (op, q) in enumerate(zip(qnet.net.ops, qnet.ops, strict=True))
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": qnet.net.name,
        "bits": qnet.bits,
        "input_shape": list(qnet.net.input_shape),
        "input_frac": qnet.input_frac,
        "source": source,
        "design": design.to_json(),
        "fpgas": [_fpga_json(p, d) for p, d in zip(plans, devices, strict=True)],
        "outputs": [{"fpga": f, "layer": t} for f, t in outputs_of(plans)],
        "ops": ops,
    }


def _fpga_json(plan: FpgaPlan, device: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": plan.index,
        **device,
        "first_layer": plan.stage.first_layer,
        "last_layer": plan.stage.last_layer,
        "top": f"cx_fpga{plan.index}_top",
        "kmax": plan.kmax,
        "kmax_cols": plan.kmax_cols,
        "smax": plan.smax,
        "input_buffer": [plan.in_rows, plan.in_cols],
        "input_buffer_enlarged_by": plan.enlarged_by,
        "arena_words": plan.arena_words,
        "param_words": int(plan.params.size),
        "params": params_file(plan.index),
        "receives": [{"layer": t, "from_fpga": s} for t, s in plan.receives],
        "modelled_compute_cycles": list(plan.modelled),
    }


def _op_json(index: int, op: EngineOp, q: QOp, plan: FpgaPlan) -> dict[str, Any]:
    def param(key: str, words: IntArray | None, frac: int) -> dict[str, Any] | None:
        if words is None:
            return None
        offset = plan.param_offsets[f"{index}.{key}"]
        return {"fpga": plan.index, "offset": offset, "shape": list(words.shape), "frac": frac}

    def steps(qsteps: tuple[QStep, ...], key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for position, step in enumerate(qsteps):
            if isinstance(step, Relu):
                out.append({"kind": "relu"})
                continue
            if isinstance(step, QHardSigmoid):
                out.append({"kind": "hsigmoid", "out_frac": step.out_frac})
                continue
            assert isinstance(step, QAffine)
            out.append({
                "kind": "affine",
                "scale": param(f"{key}.{position}.scale", step.scale, step.scale_frac),
                "shift": param(f"{key}.{position}.shift", step.shift, step.shift_frac),
                "out_frac": step.out_frac,
            })  # fmt: skip
        return out

    return {
        "name": op.name,
        "kind": op.kind.value,
        "inputs": list(op.inputs),
        "in_shape": list(op.in_shape),
        "out_shape": list(op.out_shape),
        "kernel": op.kernel,
        "stride": op.stride,
        "padding": op.padding,
        "groups": op.groups,
        "count_include_pad": op.count_include_pad,
        "read_fracs": list(q.read_fracs),
        "core_frac": q.core_frac,
        "weight": param("weight", q.weight, q.weight_frac),
        "bias": param("bias", q.bias, q.bias_frac),
        "pre": steps(q.pre, "pre"),
        "post": steps(q.post, "post"),
        "kernel_cols": op.kw,
        "padding_cols": op.pw,
        "function": op.function,
        "eps": op.eps,
        "table": param("table", q.table, q.table_frac),
        "eps_words": q.eps,
    }


def load_engine(hls_dir: Path) -> LoadedEngine:
    """Read an hls/ folder's engine.json and parameter files; InputError (one line) when the
    folder is not one."""
    path = Path(hls_dir) / MANIFEST
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{hls_dir}: no {MANIFEST} (not an exported hls/ folder)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg})") from None
    if info.get("format") != FORMAT or info.get("version") not in READABLE:
        raise InputError(f"{path}: not a {FORMAT} manifest of version {VERSION}")
    bits = int(info["bits"])
    words = [
        _read_params(Path(hls_dir) / f["params"], bits, f["param_words"]) for f in info["fpgas"]
    ]
    ops, qops = zip(*(_load_op(o, words) for o in info["ops"]), strict=True)
    net = EngineNet(tuple(info["input_shape"]), tuple(ops), str(info.get("name", "")))
    qnet = QuantNet(net, bits, int(info["input_frac"]), tuple(qops))
    return LoadedEngine(
        qnet=qnet,
        design=HardwareDesign.from_json(info["design"]),
        outputs=tuple((int(o["fpga"]), int(o["layer"])) for o in info["outputs"]),
        modelled=tuple(c for f in info["fpgas"] for c in f["modelled_compute_cycles"]),
        layers_per_fpga=tuple(f["last_layer"] - f["first_layer"] + 1 for f in info["fpgas"]),
        info=info,
    )


def word_dtype(bits: int) -> np.dtype[Any]:
    return np.dtype("<i1") if bits == 8 else np.dtype("<i2")


def _read_params(path: Path, bits: int, count: int) -> IntArray:
    try:
        words = np.fromfile(path, dtype=word_dtype(bits)).astype(np.int64)
    except FileNotFoundError:
        raise InputError(
            f"{path}: missing (an hls/ folder needs every FPGA's parameters)"
        ) from None
    if words.size != count:
        raise InputError(f"{path}: {words.size} words, engine.json says {count}")
    return words


def _param(spec: dict[str, Any] | None, words: list[IntArray]) -> tuple[IntArray | None, int]:
    if spec is None:
        return None, 0
    size = int(np.prod(spec["shape"]))
    start = int(spec["offset"])
    block = words[int(spec["fpga"])][start : start + size].reshape(spec["shape"])
    return block, int(spec["frac"])


def _load_steps(
    specs: list[dict[str, Any]], words: list[IntArray]
) -> tuple[tuple[Step, ...], tuple[QStep, ...]]:
    steps: list[Step] = []
    qsteps: list[QStep] = []
    for spec in specs:
        if spec["kind"] == "relu":
            steps.append(Relu())
            qsteps.append(Relu())
            continue
        if spec["kind"] == "hsigmoid":
            steps.append(HardSigmoid())
            qsteps.append(QHardSigmoid(int(spec["out_frac"])))
            continue
        scale, scale_frac = _param(spec["scale"], words)
        shift, shift_frac = _param(spec["shift"], words)
        assert scale is not None and shift is not None
        steps.append(Affine(from_words(scale, scale_frac), from_words(shift, shift_frac)))
        qsteps.append(QAffine(scale, scale_frac, shift, shift_frac, int(spec["out_frac"])))
    return tuple(steps), tuple(qsteps)


def _load_op(spec: dict[str, Any], words: list[IntArray]) -> tuple[EngineOp, QOp]:
    weight, weight_frac = _param(spec["weight"], words)
    bias, bias_frac = _param(spec["bias"], words)
    pre, qpre = _load_steps(spec["pre"], words)
    post, qpost = _load_steps(spec["post"], words)
    table, table_frac = _param(spec.get("table"), words)
    op = EngineOp(
        OpKind(spec["kind"]),
        tuple(spec["inputs"]),
        tuple(spec["in_shape"]),
        tuple(spec["out_shape"]),
        kernel=int(spec["kernel"]),
        stride=int(spec["stride"]),
        padding=int(spec["padding"]),
        groups=int(spec["groups"]),
        weight=None if weight is None else from_words(weight, weight_frac),
        bias=None if bias is None else from_words(bias, bias_frac),
        pre=pre,
        post=post,
        count_include_pad=bool(spec["count_include_pad"]),
        name=str(spec["name"]),
        kernel_cols=int(spec.get("kernel_cols", 0)),
        padding_cols=int(spec.get("padding_cols", -1)),
        function=str(spec.get("function", "")),
        eps=float(spec.get("eps", 0.0)),
    )
    q = QOp(tuple(spec["read_fracs"]), qpre, int(spec["core_frac"]), qpost, weight, weight_frac,
            bias, bias_frac, table, table_frac, int(spec.get("eps_words", 0)))  # fmt: skip
    return op, q
