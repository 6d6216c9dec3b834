"""Terminal and JSON rendering of fast-exploration results (used by the CLI)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from coexplore.fast.optimal import FastResult
from coexplore.hardware.calibration import power_error_band
from coexplore.hardware.devices import POWER_COVERS, Pool, Spec, model_note
from coexplore.tables import (
    add_figures,
    add_texts,
    layer_span,
    narrow_table,
    numbered,
    wide_console,
    with_notes,
)
from coexplore.workload import Workload

# The estimate's stage table: (header, wide view only). The narrow view fits 80 columns.
_STAGE_COLUMNS = (
    ("#", False), ("device", False), ("layers", False), ("Tm,Tn,Tr,Tc", False),
    ("Ip,Wp,Op", True), ("cycles", True), ("bound", True), ("DSP", False),
    ("BRAM18K", False), ("LUTs", True), ("ms", False), ("W", False),
)  # fmt: skip
_TEXT_COLUMNS = ("device", "bound")


def print_estimate(
    console: Console,
    workload: Workload,
    result: FastResult,
    pool: Pool,
    wide: bool,
    spec: Spec | None = None,
) -> None:
    ev = result.evaluation
    console.print(network_line(workload), highlight=False)
    if ev is None:
        console.print(f"[bold red]PRUNED[/]: {result.reason}")
        return
    console = wide_console(console) if wide else console
    console.print(stage_table(result, pool, wide))
    if wide:
        console.print(layer_table(result))
    if result.reason:
        status = f"[bold red]PRUNED[/]: {result.reason}"
    elif spec is None or spec == Spec():  # nothing to meet: say what was found, not a verdict
        status = "no spec given: the fastest design on this pool (--spec-fps to check one)"
    else:
        status = "[bold green]MEETS SPEC[/]"
    links = ", ".join(f"{x * 1e3:.3f}" for x in ev.link_seconds) or "none"
    console.print(
        f"FPS {ev.fps:,.1f} | latency {ev.latency_ms:.3f} ms | pipeline efficiency "
        f"{ev.pipeline_efficiency:.1%}\n"
        f"power {ev.power_w:.2f} W ({power_error_band().text()}) | {ev.gops_per_w:.2f} GOPS/W\n"
        f"links (ms): {links}\n{status}",
        highlight=False,
    )
    if result.design is not None:
        console.print(model_note(result.design.precision, pool), highlight=False)


def network_line(workload: Workload) -> str:
    """How much work one image is: MACs and GOP (2 operations per MAC)."""
    work = f"{workload.macs:,} MACs, {workload.ops / 1e9:.3f} GOP per image"
    return f"{work}: {workload.name}" if workload.name else work  # a long name wraps last


def _power_note() -> str:
    return f"W: board power, {power_error_band().text()} (docs/hardware.md)"


def stage_table(result: FastResult, pool: Pool, wide: bool) -> Group:
    assert result.evaluation is not None
    devices = {d.name: d for d in pool.devices}
    heading = f"Best design on {pool.describe()} ({result.seconds * 1e3:.1f} ms to find)"
    notes = [_power_note(), *([] if wide else ["--wide: every column, and each layer"])]
    table = narrow_table()
    shown = [name for name, wide_only in _STAGE_COLUMNS if wide or not wide_only]
    for col in shown:
        (add_texts if col in _TEXT_COLUMNS else add_figures)(table, col)
    for n, s in enumerate(result.evaluation.stages):
        d, t = devices[s.device], s.tiling
        bounds = Counter(layer.bound for layer in s.layers).most_common()
        cells = {
            "#": numbered(n), "device": s.device, "layers": layer_span(s.first_layer, s.last_layer),
            "Tm,Tn,Tr,Tc": f"{t.tm},{t.tn},{t.tr},{t.tc}", "Ip,Wp,Op": f"{t.ip},{t.wp},{t.op}",
            "cycles": f"{s.cycles:,}", "bound": " ".join(f"{b}x{c}" for b, c in bounds),
            "DSP": f"{s.dsp}/{d.dsp}", "BRAM18K": f"{s.bram18k}/{d.bram18k}",
            "LUTs": f"{s.luts:,}/{d.luts:,}", "ms": f"{s.seconds * 1e3:.3f}",
            "W": f"{s.power_w:.2f}",
        }  # fmt: skip
        table.add_row(*(cells[col] for col in shown))
    return with_notes(table, notes, heading)


def layer_table(result: FastResult) -> Table:
    table = narrow_table("Layers")
    add_figures(table, "layer")
    add_texts(table, "name", "kind")
    add_figures(table, "FPGA", "cycles")
    add_texts(table, "bound")
    assert result.evaluation is not None
    for n, stage in enumerate(result.evaluation.stages):
        for layer in stage.layers:
            table.add_row(
                numbered(layer.index),
                layer.name,
                layer.kind,
                numbered(n),
                f"{layer.cycles:,}",
                layer.bound,
            )
    return table


def estimate_json(workload: Workload, result: FastResult, pool: Pool) -> dict[str, Any]:
    return {**network_json(workload), **_pool_json(result, pool)}


def network_json(workload: Workload) -> dict[str, Any]:
    """The network and its work per image; what the power figures' error band is."""
    return {
        "network": workload.name,
        "macs": workload.macs,
        "gop_per_image": workload.ops / 1e9,
        "power_error": power_error_band().to_json(),
    }


def _pool_json(result: FastResult, pool: Pool) -> dict[str, Any]:
    ev = result.evaluation
    band = power_error_band()
    return {
        "pool": pool.describe(),
        "precision": result.design.precision.value if result.design else None,
        "clock_mhz": {d.name: d.clock_mhz for d in pool.kinds},
        "fill": pool.fill,
        "power_covers": POWER_COVERS,
        "pruned": result.pruned,
        "reason": result.reason,
        "search_ms": result.seconds * 1e3,
        "design": result.design.to_json() if result.design else None,
        "metrics": ev.metrics() if ev else None,
        # the board power this design would measure, were the model off by as much as on
        # the measured designs (power_error)
        "power_range_w": list(band.measured_range_w(ev.power_w)) if ev else None,
        "stages": [
            {**asdict(s), "tiling": asdict(s.tiling), "layers": [asdict(x) for x in s.layers]}
            for s in (ev.stages if ev else ())
        ],
        "link_seconds": list(ev.link_seconds) if ev else [],
    }


def pool_ranking(results: Sequence[FastResult]) -> list[int]:
    """Pool indices, best first: designs that meet the spec, then those that miss only the
    spec, then none; within each, by FPS, then GOPS/W (the explorer's own order)."""

    def key(i: int) -> tuple[int, float, float]:
        ev = results[i].evaluation
        group = 2 if ev is None else int(results[i].pruned)
        return (group, -ev.fps if ev else 0.0, -ev.gops_per_w if ev else 0.0)

    return sorted(range(len(results)), key=key)


def compare_json(
    workload: Workload, pools: Sequence[Pool], results: Sequence[FastResult]
) -> dict[str, Any]:
    """Every pool's estimate, best first, each with its rank and resource totals."""
    ranked = []
    for rank, i in enumerate(pool_ranking(results), start=1):
        entry = _pool_json(results[i], pools[i])
        ranked.append({"rank": rank, **entry, "resources": _resources(results[i], pools[i])})
    return {**network_json(workload), "pools": ranked}


def _resources(result: FastResult, pool: Pool) -> dict[str, int]:
    """Used (by the design's stages) and available (in the whole pool) DSP, BRAM18K, LUTs."""
    stages = result.evaluation.stages if result.evaluation else ()
    out = {}
    for field in ("dsp", "bram18k", "luts"):
        out[f"{field}_used"] = sum(getattr(s, field) for s in stages)
        out[f"{field}_available"] = sum(getattr(d, field) for d in pool.devices)
    return out


# The pools side by side: (header, wide view only).
_POOL_COLUMNS = (
    ("#", False), ("pool", False), ("FPGAs", True), ("FPS", False), ("ms", False),
    ("W", False), ("GOPS/W", False), ("DSP", False), ("BRAM", False), ("pipe eff", True),
    ("spec", False),
)  # fmt: skip


def print_comparison(
    console: Console,
    workload: Workload,
    pools: Sequence[Pool],
    results: Sequence[FastResult],
    wide: bool,
) -> None:
    console.print(network_line(workload), highlight=False)
    console = wide_console(console) if wide else console
    console.print(comparison_table(pools, results, wide))


def comparison_table(pools: Sequence[Pool], results: Sequence[FastResult], wide: bool) -> Group:
    """The pools side by side, best first (a pool's devices one per line), then the reasons
    for missing the spec."""
    table = narrow_table()
    shown = [name for name, wide_only in _POOL_COLUMNS if wide or not wide_only]
    for col in shown:
        (add_texts if col == "pool" else add_figures)(table, col)
    reasons = []
    for rank, i in enumerate(pool_ranking(results), start=1):
        cells = _pool_cells(rank, results[i], pools[i])
        table.add_row(*(cells.get(col, "-") for col in shown))
        if results[i].pruned:
            reasons.append(f"#{rank} {pools[i].describe()}: {results[i].reason}")
    notes = [_COMPARISON_NOTE, _power_note(), *([] if wide else [_COMPARISON_WIDE])]
    return with_notes(table, [*reasons, *notes], f"{len(pools)} pools, best first")


def _pool_cells(rank: int, result: FastResult, pool: Pool) -> dict[str, str]:
    """One pool's row of the comparison, by header ('-' where no design was found)."""
    cells = {
        "#": str(rank),
        "pool": "\n+".join(pool.describe().split(" + ")),
        "spec": "no" if result.pruned else "yes",
    }
    ev, res = result.evaluation, _resources(result, pool)
    if ev is None:
        return cells
    return cells | {
        "FPGAs": f"{len(ev.stages)}/{len(pool.devices)}", "FPS": f"{ev.fps:,.1f}",
        "ms": f"{ev.latency_ms:.3f}", "W": f"{ev.power_w:.2f}", "GOPS/W": f"{ev.gops_per_w:.2f}",
        "DSP": f"{res['dsp_used'] / res['dsp_available']:.0%}",
        "BRAM": f"{res['bram18k_used'] / res['bram18k_available']:.0%}",
        "pipe eff": f"{ev.pipeline_efficiency:.0%}",
    }  # fmt: skip


_COMPARISON_NOTE = "ms: latency; DSP, BRAM: share of the whole pool's; one --pool shows the stages"
_COMPARISON_WIDE = "--wide: FPGAs used / in the pool, and pipeline efficiency"


PICK_NAMES = {"opt_sw": "OptSW", "opt_hw": "OptHW"}  # summary key -> the name used everywhere


def summary_table(summary: dict[str, Any]) -> Group:
    """The picks of a finished search, then what each is and why children failed."""
    counts = summary["counts"]
    heading = (
        f"{summary['trials']} trials: {counts['pruned']} pruned "
        f"({summary['pruned_fraction']:.0%}), {summary['trained']} trained, "
        f"{counts['failed']} failed, {summary['training_hours'] * 60:.1f} training minutes"
    )
    table = narrow_table()
    add_texts(table, "pick", "prec")
    add_figures(table, "trial", "val acc", "float", "test acc", "FPS", "GOPS/W", "FPGAs")
    for label, name in PICK_NAMES.items():
        p = summary[label]
        if p is None:
            table.add_row(name, *["-"] * 8)
            continue
        m = p["metrics"]
        test = "-" if p["test_accuracy"] is None else f"{p['test_accuracy']:.3f}"
        floated = m.get("float_accuracy", m["accuracy"])
        table.add_row(name, p.get("precision", "-"), str(p["trial"]), f"{m['accuracy']:.3f}",
                      f"{floated:.3f}", test, f"{m['fps']:,.0f}", f"{m['gops_per_w']:.1f}",
                      f"{m['fpgas']:.0f}")  # fmt: skip
    picks = [
        f"{name}: "
        + (_arch_text(summary[label]["arch"]) if summary[label] else "no child met the spec")
        for label, name in PICK_NAMES.items()
    ]
    failures = [f"failed {f['count']}x: {f['reason']}" for f in summary.get("failures", [])]
    noise = summary.get("accuracy_noise", {}).get("notes", [])  # binomial noise, in words
    meaning = "val acc, test acc: at the pick's precision; float: the same network in fp32"
    return with_notes(table, [meaning, *picks, *failures, *noise], heading)


def _arch_text(arch: dict[str, Any]) -> str:
    if "layers" in arch:
        return " ".join(
            f"{x['kernel']}x{x['kernel']}/{x['filters']}"
            + ("/s2" if x.get("stride", 1) == 2 else "")
            for x in arch["layers"]
        )
    return str(arch.get("arch", arch))
