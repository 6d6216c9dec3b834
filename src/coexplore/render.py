"""Terminal and JSON rendering of fast-exploration results (used by the CLI)."""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coexplore.fast.optimal import FastResult
from coexplore.hardware.devices import POWER_COVERS, Device, Pool, Spec, model_note
from coexplore.workload import Workload


def devices_table(catalog: dict[str, Device], user_file: Path | None = None) -> Table:
    table = Table(title="FPGA devices")
    user = parse_catalog_names(user_file)
    if user:
        table.caption = f"* from {user_file}"
        table.caption_justify = "left"
    for col in ("name", "family", "board", "DSP", "BRAM18K", "URAM", "LUTs", "FFs", "port bits",
                "MHz", "static W", "board W"):  # fmt: skip
        right = col[0].isupper() or col[0] in "psM" or col == "board W"
        table.add_column(col, justify="right" if right else "left", no_wrap=col == "name",
                         min_width=9 if col == "name" else None)  # fmt: skip
    for d in catalog.values():
        table.add_row(
            d.name + (" *" if d.name in user else ""),
            d.family,
            d.board,
            str(d.dsp),
            str(d.bram18k),
            str(d.uram),
            f"{d.luts:,}",
            f"{d.ffs:,}",
            str(d.port_bits),
            f"{d.clock_mhz:g}",
            f"{d.static_w:.2f}",
            f"{d.board_w:.1f}",
        )
    return table


def parse_catalog_names(path: Path | None) -> set[str]:
    """Device names a user catalog defines (it was validated when the catalog was loaded)."""
    if path is None:
        return set()
    return set(tomllib.loads(path.read_text(encoding="utf-8"))) - {"families"}


# The estimate's stage table: (header, wide view only). 100 columns hold the narrow view.
_STAGE_COLUMNS = (
    ("stage", False), ("device", False), ("layers", False), ("Tm,Tn,Tr,Tc", False),
    ("Ip,Wp,Op", True), ("cycles", True), ("bound", False), ("DSP", False),
    ("BRAM18K", False), ("LUTs", True), ("ms", False), ("W", False),
)  # fmt: skip
WIDE = 160  # columns of the wide view (--layers), whatever the terminal says


def print_estimate(
    console: Console, result: FastResult, pool: Pool, wide: bool, spec: Spec | None = None
) -> None:
    ev = result.evaluation
    if ev is None:
        console.print(f"[bold red]PRUNED[/]: {result.reason}")
        return
    console = _wide(console) if wide else console
    console.print(_stage_table(result, pool, wide))
    if wide:
        console.print(_layer_table(result))
    if result.reason:
        status = f"[bold red]PRUNED[/]: {result.reason}"
    elif spec is None or spec == Spec():  # nothing to meet: say what was found, not a verdict
        status = "no spec given: the fastest design on this pool (--spec-fps to check one)"
    else:
        status = "[bold green]MEETS SPEC[/]"
    links = ", ".join(f"{x * 1e3:.3f}" for x in ev.link_seconds) or "none"
    console.print(
        f"FPS {ev.fps:,.1f} | latency {ev.latency_ms:.3f} ms | pipeline efficiency "
        f"{ev.pipeline_efficiency:.1%} | power {ev.power_w:.2f} W | {ev.gops_per_w:.2f} GOPS/W\n"
        f"links (ms): {links}\n{status}"
    )
    if result.design is not None:
        console.print(model_note(result.design.precision, pool), highlight=False)


def _wide(console: Console) -> Console:
    """The same output, at least WIDE columns wide (the wide view may overflow a terminal)."""
    return Console(file=console.file, width=max(console.width, WIDE),
                   force_terminal=console.is_terminal, no_color=console.no_color)  # fmt: skip


def _stage_table(result: FastResult, pool: Pool, wide: bool) -> Table:
    assert result.evaluation is not None
    devices = {d.name: d for d in pool.devices}
    title = f"Best design on {pool.describe()} ({result.seconds * 1e3:.1f} ms to find)"
    table = Table(title=title, caption=None if wide else "--layers: every column, and each layer")
    shown = [name for name, wide_only in _STAGE_COLUMNS if wide or not wide_only]
    for col in shown:
        text = col in ("device", "bound")
        table.add_column(
            col, justify="left" if text else "right", no_wrap=not text or col == "device"
        )
    for n, s in enumerate(result.evaluation.stages):
        d, t = devices[s.device], s.tiling
        bounds = Counter(layer.bound for layer in s.layers).most_common()
        cells = {
            "stage": str(n), "device": s.device, "layers": f"{s.first_layer}-{s.last_layer}",
            "Tm,Tn,Tr,Tc": f"{t.tm},{t.tn},{t.tr},{t.tc}", "Ip,Wp,Op": f"{t.ip},{t.wp},{t.op}",
            "cycles": f"{s.cycles:,}", "bound": _bounds(bounds, len(s.layers), wide),
            "DSP": f"{s.dsp}/{d.dsp}", "BRAM18K": f"{s.bram18k}/{d.bram18k}",
            "LUTs": f"{s.luts:,}/{d.luts:,}", "ms": f"{s.seconds * 1e3:.3f}",
            "W": f"{s.power_w:.2f}",
        }  # fmt: skip
        table.add_row(*(cells[col] for col in shown))
    return table


def _bounds(counts: list[tuple[str, int]], layers: int, wide: bool) -> str:
    """What bounds the stage's layers: all terms (wide view) or the commonest, e.g. 'input 9/16'."""
    if wide:
        return " ".join(f"{bound}x{count}" for bound, count in counts)
    return f"{counts[0][0]} {counts[0][1]}/{layers}"


def _layer_table(result: FastResult) -> Table:
    table = Table(title="Layers")
    for col in ("layer", "name", "kind", "stage", "cycles", "bound"):
        table.add_column(col)
    assert result.evaluation is not None
    for n, stage in enumerate(result.evaluation.stages):
        for layer in stage.layers:
            table.add_row(
                str(layer.index), layer.name, layer.kind, str(n), f"{layer.cycles:,}", layer.bound
            )
    return table


def estimate_json(result: FastResult, pool: Pool) -> dict[str, Any]:
    ev = result.evaluation
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
        entry = estimate_json(results[i], pools[i])
        ranked.append({"rank": rank, **entry, "resources": _resources(results[i], pools[i])})
    return {"network": workload.name, "macs": workload.macs, "pools": ranked}


def _resources(result: FastResult, pool: Pool) -> dict[str, int]:
    """Used (by the design's stages) and available (in the whole pool) DSP, BRAM18K, LUTs."""
    stages = result.evaluation.stages if result.evaluation else ()
    out = {}
    for field in ("dsp", "bram18k", "luts"):
        out[f"{field}_used"] = sum(getattr(s, field) for s in stages)
        out[f"{field}_available"] = sum(getattr(d, field) for d in pool.devices)
    return out


def print_comparison(
    console: Console,
    workload: Workload,
    pools: Sequence[Pool],
    results: Sequence[FastResult],
    wide: bool,
) -> None:
    """The pools side by side, best first; fits 100 columns (a pool's devices one per line,
    the reasons for missing the spec under the table)."""
    table = Table(title=f"{workload.name or 'network'}: {workload.macs / 1e9:.3f} GMACs on "
                        f"{len(pools)} pools, best first")  # fmt: skip
    for col in ("#", "pool", "FPGAs", "FPS", "latency ms", "GOPS/W", "power W", "DSP", "BRAM",
                "pipe eff", "spec"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("pool", "spec") else "right", no_wrap=True)
    notes = []
    for rank, i in enumerate(pool_ranking(results), start=1):
        ev, res = results[i].evaluation, _resources(results[i], pools[i])
        devices = "\n+".join(pools[i].describe().split(" + "))
        meets = "no" if results[i].pruned else "yes"
        if results[i].pruned:
            notes.append(f"#{rank} {pools[i].describe()}: {results[i].reason}")
        if ev is None:
            table.add_row(str(rank), devices, *["-"] * 8, meets)
            continue
        table.add_row(
            str(rank), devices, f"{len(ev.stages)}/{len(pools[i].devices)}", f"{ev.fps:,.1f}",
            f"{ev.latency_ms:.3f}", f"{ev.gops_per_w:.2f}", f"{ev.power_w:.2f}",
            f"{res['dsp_used'] / res['dsp_available']:.0%}",
            f"{res['bram18k_used'] / res['bram18k_available']:.0%}",
            f"{ev.pipeline_efficiency:.0%}", meets,
        )  # fmt: skip
    console = _wide(console) if wide else console
    console.print(table)
    console.print("\n".join([*notes, _COMPARISON_NOTE]))


_COMPARISON_NOTE = (
    "FPGAs: used / in the pool; DSP, BRAM: share of the whole pool's; one --pool shows the stages"
)


PICK_NAMES = {"opt_sw": "OptSW", "opt_hw": "OptHW"}  # summary key -> the name used everywhere


def summary_table(summary: dict[str, Any]) -> Table:
    counts = summary["counts"]
    table = Table(
        title=(
            f"{summary['trials']} trials: {counts['pruned']} pruned "
            f"({summary['pruned_fraction']:.0%}), {summary['trained']} trained, "
            f"{counts['failed']} failed, {summary['training_hours'] * 60:.1f} training minutes"
        ),
        caption="\n".join(
            [
                *(
                    f"{PICK_NAMES[label]}: {_arch_text(summary[label]['arch'])}"
                    for label in PICK_NAMES
                    if summary[label] is not None
                ),
                *(f"failed {f['count']}x: {f['reason']}" for f in summary.get("failures", [])),
                *summary.get("accuracy_noise", {}).get("notes", []),  # binomial noise, in words
            ]
        ),
        caption_justify="left",
    )
    for col in ("pick", "trial", "val acc", "test acc", "FPS", "GOPS/W", "pipe eff", "FPGAs"):
        table.add_column(col, justify="left" if col == "pick" else "right", no_wrap=True)
    for label, name in PICK_NAMES.items():
        p = summary[label]
        if p is None:
            table.add_row(name, "-", "-", "-", "-", "-", "-", "no child met the spec")
            continue
        m = p["metrics"]
        test = "-" if p["test_accuracy"] is None else f"{p['test_accuracy']:.3f}"
        table.add_row(name, str(p["trial"]), f"{m['accuracy']:.3f}", test, f"{m['fps']:,.0f}",
                      f"{m['gops_per_w']:.1f}", f"{m['pipeline_efficiency']:.0%}",
                      f"{m['fpgas']:.0f}")  # fmt: skip
    return table


def _arch_text(arch: dict[str, Any]) -> str:
    if "layers" in arch:
        return " ".join(
            f"{x['kernel']}x{x['kernel']}/{x['filters']}"
            + ("/s2" if x.get("stride", 1) == 2 else "")
            for x in arch["layers"]
        )
    return str(arch.get("arch", arch))
