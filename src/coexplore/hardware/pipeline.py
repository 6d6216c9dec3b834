"""Multi-FPGA pipeline: consecutive layer groups, one per FPGA, and its metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from coexplore.hardware.accelerator import (
    Tiling,
    layer_bound,
    layer_cycles,
    over_budget,
    stage_resources,
)
from coexplore.hardware.devices import Device, Pool, Precision, Spec
from coexplore.workload import Workload


@dataclass(frozen=True)
class StageDesign:
    """One FPGA of the pipeline: its device and the layers first..last (inclusive) it runs."""

    device: str
    first_layer: int
    last_layer: int
    tiling: Tiling


@dataclass(frozen=True)
class HardwareDesign:
    stages: tuple[StageDesign, ...]
    precision: Precision = Precision.FIXED16

    def to_json(self) -> dict[str, object]:
        return {
            "precision": self.precision.value,
            "stages": [{**asdict(s), "tiling": asdict(s.tiling)} for s in self.stages],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> HardwareDesign:
        stages = tuple(
            StageDesign(
                device=str(s["device"]),
                first_layer=int(s["first_layer"]),
                last_layer=int(s["last_layer"]),
                tiling=Tiling(**{k: int(v) for k, v in s["tiling"].items()}),
            )
            for s in data["stages"]  # type: ignore[attr-defined]
        )
        return cls(stages, Precision(str(data.get("precision", "fixed16"))))


@dataclass(frozen=True)
class LayerCost:
    index: int
    name: str
    kind: str
    cycles: int
    bound: str


@dataclass(frozen=True)
class StageReport:
    device: str
    first_layer: int
    last_layer: int
    tiling: Tiling
    cycles: int
    seconds: float
    dsp: int
    bram18k: int
    luts: int
    port_words: int
    power_w: float  # the board's power (docs/hardware.md, "Power")
    layers: tuple[LayerCost, ...]
    over_budget: str  # '' when the engine fits its device
    uram: int = 0
    ffs: int = 0
    pl_power_w: float = 0.0  # the FPGA's programmable logic alone (static + dynamic)


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one hardware design running one workload."""

    stages: tuple[StageReport, ...]
    link_seconds: tuple[float, ...]  # one per cut between consecutive stages
    ii_seconds: float
    fps: float
    latency_ms: float
    pipeline_efficiency: float
    power_w: float
    gops_per_w: float
    ops_per_image: int
    reason: str  # why the design is infeasible or misses the spec; '' when it is fine

    @property
    def feasible(self) -> bool:
        return not self.reason

    def metrics(self) -> dict[str, float]:
        return {
            "fps": self.fps,
            "latency_ms": self.latency_ms,
            "pipeline_efficiency": self.pipeline_efficiency,
            "power_w": self.power_w,
            "gops_per_w": self.gops_per_w,
            "fpgas": float(len(self.stages)),
        }


def link_seconds(workload: Workload, after: int, link_gbps: float, precision: Precision) -> float:
    """Time to send the feature maps crossing a cut after layer `after` over the link."""
    bits = workload.boundary_words(after) * precision.word_bits
    return bits / (link_gbps * 1e9)


def stage_report(
    workload: Workload, stage: StageDesign, device: Device, precision: Precision, fill: bool = True
) -> StageReport:
    layers = workload.layers[stage.first_layer : stage.last_layer + 1]
    costs = []
    for offset, layer in enumerate(layers):
        cycles = int(layer_cycles(layer, stage.tiling, fill))
        bound = layer_bound(layer, stage.tiling)
        costs.append(
            LayerCost(stage.first_layer + offset, layer.name, layer.kind.value, cycles, bound)
        )
    res = stage_resources(stage.tiling, layers, precision, device)
    total = sum(c.cycles for c in costs)
    return StageReport(
        device=device.name,
        first_layer=stage.first_layer,
        last_layer=stage.last_layer,
        tiling=stage.tiling,
        cycles=total,
        seconds=total / (device.clock_mhz * 1e6),
        dsp=int(res.dsp),
        bram18k=int(res.bram18k),
        luts=int(res.luts),
        port_words=int(res.port_words),
        power_w=float(device.power_w(res)),
        layers=tuple(costs),
        over_budget=over_budget(res, device, precision),
        uram=int(res.uram),
        ffs=int(res.ffs),
        pl_power_w=float(device.pl_power_w(res)),
    )


def evaluate_design(
    workload: Workload, design: HardwareDesign, pool: Pool, spec: Spec | None = None
) -> Evaluation:
    """Evaluate a design: every resource limit enforced, the spec checked when given."""
    structural = _structure_problem(workload, design, pool)
    devices = {d.name: d for d in pool.devices}
    stages = (
        tuple(
            stage_report(workload, s, devices[s.device], design.precision, pool.fill)
            for s in design.stages
        )
        if not structural
        else ()
    )
    links = tuple(
        link_seconds(workload, s.last_layer, pool.link_gbps, design.precision)
        for s in design.stages[:-1]
    )
    stage_seconds = [s.seconds for s in stages]
    ii = max(stage_seconds + list(links), default=float("inf"))
    power = sum(s.power_w for s in stages)
    fps = 1.0 / ii if ii > 0 else float("inf")
    ops = workload.ops
    evaluation = Evaluation(
        stages=stages,
        link_seconds=links,
        ii_seconds=ii,
        fps=fps,
        latency_ms=1e3 * (sum(stage_seconds) + sum(links)),
        pipeline_efficiency=sum(stage_seconds) / (len(stages) * ii) if stages else 0.0,
        power_w=power,
        gops_per_w=ops * fps / power / 1e9 if stages else 0.0,
        ops_per_image=ops,
        reason=structural or next((s.over_budget for s in stages if s.over_budget), ""),
    )
    if spec is not None and not evaluation.reason:
        return _with_reason(evaluation, spec_problem(evaluation, spec))
    return evaluation


def spec_problem(evaluation: Evaluation, spec: Spec) -> str:
    if evaluation.fps < spec.fps:
        return f"{evaluation.fps:.1f} FPS < spec {spec.fps:g} FPS"
    if spec.latency_ms is not None and evaluation.latency_ms > spec.latency_ms:
        return f"latency {evaluation.latency_ms:.3f} ms > spec {spec.latency_ms:g} ms"
    if spec.max_fpgas is not None and len(evaluation.stages) > spec.max_fpgas:
        return f"{len(evaluation.stages)} FPGAs > spec {spec.max_fpgas}"
    return ""


def _with_reason(evaluation: Evaluation, reason: str) -> Evaluation:
    if not reason:
        return evaluation
    return Evaluation(**{**vars(evaluation), "reason": reason})


def _structure_problem(workload: Workload, design: HardwareDesign, pool: Pool) -> str:
    """A design must cover the layers in order with devices the pool has."""
    if not design.stages:
        return "design has no stage"
    expected = 0
    for s in design.stages:
        if s.first_layer != expected or s.last_layer < s.first_layer:
            return f"stages must cover layers 0..{len(workload) - 1} consecutively"
        expected = s.last_layer + 1
    if expected != len(workload):
        return f"stages must cover layers 0..{len(workload) - 1} consecutively"
    available = dict(zip((d.name for d in pool.kinds), pool.counts, strict=True))
    for s in design.stages:
        if available.get(s.device, 0) == 0:
            return f"design uses more {s.device} than the pool ({pool.describe()}) has"
        available[s.device] -= 1
    return ""
