"""Terminal and JSON rendering of fast-exploration results (used by the CLI)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from coexplore.fast.optimal import FastResult
from coexplore.hardware.devices import Device, Pool


def devices_table(catalog: dict[str, Device]) -> Table:
    table = Table(title="FPGA devices")
    for col in (
        "name",
        "family",
        "board",
        "DSP",
        "BRAM18K",
        "LUTs",
        "port bits",
        "MHz",
        "static W",
    ):
        right = col[0].isupper() or col[0] in "psM"
        table.add_column(
            col,
            justify="right" if right else "left",
            no_wrap=col == "name",
            min_width=9 if col == "name" else None,
        )
    for d in catalog.values():
        table.add_row(
            d.name,
            d.family,
            d.board,
            str(d.dsp),
            str(d.bram18k),
            f"{d.luts:,}",
            str(d.port_bits),
            f"{d.clock_mhz:g}",
            f"{d.static_w:.2f}",
        )
    return table


def print_estimate(console: Console, result: FastResult, pool: Pool, show_layers: bool) -> None:
    ev = result.evaluation
    if ev is None:
        console.print(f"[bold red]PRUNED[/]: {result.reason}")
        return
    devices = {d.name: d for d in pool.devices}
    table = Table(title=f"Best design on {pool.describe()} ({result.seconds * 1e3:.1f} ms to find)")
    for col in (
        "stage",
        "device",
        "layers",
        "Tm,Tn,Tr,Tc",
        "Ip,Wp,Op",
        "cycles",
        "bound",
        "DSP",
        "BRAM18K",
        "LUTs",
        "stage ms",
        "power W",
    ):
        table.add_column(
            col,
            justify="left" if col in ("device", "bound") else "right",
            no_wrap=col == "device",
            min_width=9 if col == "device" else None,
        )
    for n, s in enumerate(ev.stages):
        d, t = devices[s.device], s.tiling
        bounds = Counter(layer.bound for layer in s.layers).most_common()
        table.add_row(
            str(n),
            s.device,
            f"{s.first_layer}-{s.last_layer}",
            f"{t.tm},{t.tn},{t.tr},{t.tc}",
            f"{t.ip},{t.wp},{t.op}",
            f"{s.cycles:,}",
            " ".join(f"{b}x{c}" for b, c in bounds),
            f"{s.dsp}/{d.dsp}",
            f"{s.bram18k}/{d.bram18k}",
            f"{s.luts:,}/{d.luts:,}",
            f"{s.seconds * 1e3:.3f}",
            f"{s.power_w:.2f}",
        )
    console.print(table)
    if show_layers:
        console.print(_layer_table(result))
    status = (
        "[bold green]MEETS SPEC[/]"
        if not result.reason
        else f"[bold red]PRUNED[/]: {result.reason}"
    )
    console.print(
        f"FPS {ev.fps:,.1f} | latency {ev.latency_ms:.3f} ms | pipeline efficiency "
        f"{ev.pipeline_efficiency:.1%} | power {ev.power_w:.2f} W | {ev.gops_per_w:.2f} GOPS/W | "
        f"links {', '.join(f'{x * 1e3:.3f} ms' for x in ev.link_seconds) or 'none'}\n{status}"
    )


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
                f"{label}: {_arch_text(summary[label]['arch'])}"
                for label in ("opt_sw", "opt_hw")
                if summary[label] is not None
            ]
            + summary.get("accuracy_noise", {}).get("notes", [])  # binomial noise, in words
        ),
        caption_justify="left",
    )
    for col in ("pick", "trial", "val acc", "test acc", "FPS", "GOPS/W", "pipe eff", "FPGAs"):
        table.add_column(col, justify="left" if col == "pick" else "right", no_wrap=True)
    for label in ("opt_sw", "opt_hw"):
        p = summary[label]
        if p is None:
            table.add_row(label, "-", "-", "-", "-", "-", "-", "no child met the spec")
            continue
        m = p["metrics"]
        test = "-" if p["test_accuracy"] is None else f"{p['test_accuracy']:.3f}"
        table.add_row(label, str(p["trial"]), f"{m['accuracy']:.3f}", test, f"{m['fps']:,.0f}",
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
