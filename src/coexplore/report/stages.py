"""Per-FPGA view of one design: stage and link times, resources against each device's budget."""

from __future__ import annotations

from collections import Counter

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from coexplore.hardware.devices import Device, Pool, Precision
from coexplore.hardware.pipeline import Evaluation, StageReport
from coexplore.report import page
from coexplore.tables import layer_span, numbered

RESOURCES = ("DSP", "BRAM18K", "LUT", "port words")
RESOURCE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def resource_use(stage: StageReport, device: Device, precision: Precision) -> list[tuple[int, int]]:
    """(used, budget) of each of RESOURCES for one stage on its device."""
    return [
        (stage.dsp, device.dsp),
        (stage.bram18k, device.bram18k),
        (stage.luts, device.luts),
        (stage.port_words, device.port_words(precision)),
    ]


def stage_label(index: int, stage: StageReport) -> str:
    layers = layer_span(stage.first_layer, stage.last_layer)
    return f"FPGA {numbered(index)}\n{stage.device}\nlayers {layers}"


def bound_summary(stage: StageReport) -> str:
    """Which terms bound the stage's layers, e.g. 'compute x3, weight x1'."""
    counts = Counter(layer.bound for layer in stage.layers).most_common()
    return ", ".join(f"{bound} x{n}" for bound, n in counts)


def stage_figure(evaluation: Evaluation, pool: Pool, precision: Precision) -> Figure:
    """Stage and link times (with the initiation interval), and resource use in % of budget."""
    fig = Figure(figsize=(12, 4.4))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    _time_panel(left, evaluation)
    _resource_panel(right, evaluation, pool, precision)
    fig.tight_layout()
    return fig


def _time_panel(ax: Axes, evaluation: Evaluation) -> None:
    labels, values, colours = [], [], []
    for i, stage in enumerate(evaluation.stages):
        labels.append(stage_label(i, stage))
        values.append(stage.seconds * 1e3)
        colours.append("tab:blue")
        if i < len(evaluation.link_seconds):
            labels.append(f"link\n{numbered(i)}->{numbered(i + 1)}")
            values.append(evaluation.link_seconds[i] * 1e3)
            colours.append("0.6")
    ax.bar(range(len(values)), values, color=colours)
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ii_ms = evaluation.ii_seconds * 1e3
    ax.axhline(
        ii_ms,
        ls="--",
        c="tab:red",
        lw=1,
        label=f"initiation interval {ii_ms:.3f} ms ({evaluation.fps:,.0f} FPS)",
    )
    ax.set_ylabel("time per image (ms)")
    ax.set_ylim(0, 1.3 * max([*values, ii_ms]))
    ax.legend(fontsize=8, loc="upper center")
    ax.set_title("stage and link time", fontsize=10)


def _resource_panel(ax: Axes, evaluation: Evaluation, pool: Pool, precision: Precision) -> None:
    devices = {d.name: d for d in pool.devices}
    width = 0.8 / len(RESOURCES)
    for r, (name, colour) in enumerate(zip(RESOURCES, RESOURCE_COLOURS, strict=True)):
        for i, stage in enumerate(evaluation.stages):
            used, budget = resource_use(stage, devices[stage.device], precision)[r]
            x = i + (r - (len(RESOURCES) - 1) / 2) * width
            ax.bar(x, 100 * used / budget, width, color=colour, label=name if i == 0 else None)
    ax.axhline(100, c="tab:red", lw=1)
    ticks = [stage_label(i, s) for i, s in enumerate(evaluation.stages)]
    ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
    ax.set_ylim(0, 125)
    ax.set_ylabel("% of the device's budget")
    ax.legend(fontsize=8, loc="upper right", ncols=4)
    ax.set_title("resources used (the table below has the numbers)", fontsize=10)


STAGE_COLUMNS = "FPGA|device|layers|Tm,Tn,Tr,Tc|Ip,Wp,Op|cycles|stage ms|DSP|BRAM18K|LUT|port words"


def stage_table(evaluation: Evaluation, pool: Pool, precision: Precision) -> str:
    """HTML table: per FPGA its tiling, cycles, time, resources (used / budget), power, bounds."""
    devices = {d.name: d for d in pool.devices}
    header = [*STAGE_COLUMNS.split("|"), "power W", "bounds"]
    rows = []
    for i, s in enumerate(evaluation.stages):
        use = resource_use(s, devices[s.device], precision)
        t = s.tiling
        tiling = (f"{t.tm},{t.tn},{t.tr},{t.tc}", f"{t.ip},{t.wp},{t.op}")
        timing = (f"{s.cycles:,}", f"{s.seconds * 1e3:.4f}")
        resources = (f"{used:,} / {budget:,}" for used, budget in use)
        layers = layer_span(s.first_layer, s.last_layer)
        rows.append(
            [
                numbered(i),
                s.device,
                layers,
                *tiling,
                *timing,
                *resources,
                f"{s.power_w:.2f}",
                bound_summary(s),
            ]
        )
    return page.table(header, rows, text_columns={1, len(header) - 1})


def pipeline_text(ev: Evaluation) -> str:
    links = ", ".join(f"{x * 1e3:.4f} ms" for x in ev.link_seconds) or "none"
    return (
        f"initiation interval {ev.ii_seconds * 1e3:.4f} ms = {ev.fps:,.1f} FPS; latency "
        f"{ev.latency_ms:.4f} ms; pipeline efficiency {ev.pipeline_efficiency:.1%}; power "
        f"{ev.power_w:.2f} W; {ev.gops_per_w:.2f} GOPS/W; links {links}."
    )
