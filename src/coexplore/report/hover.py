"""Pareto plots you can hover: matplotlib draws the figure as SVG, and each point of a trial
gets a `<title>` naming the child's architecture, hardware design and metrics.

The SVG goes inline into the report, so it stays one self-contained file that works offline.
Browsers show a `<title>` as a tooltip by themselves; the page's small script
(`coexplore.report.page.HOVER_SCRIPT`) shows the same text at once in a box beside the pointer.
"""

from __future__ import annotations

import io
import re
from html import escape
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from coexplore.results.noise import interval
from coexplore.storage import TrialRecord
from coexplore.tables import layer_span, numbered

_USE = re.compile(r"<use [^>]*/>")


def svg_with_tips(fig: Figure, tips: dict[str, list[str]]) -> str:
    """The figure as inline SVG; the i-th point of the scatter with gid g gets tips[g][i]."""
    buffer = io.StringIO()
    # Text as text (smaller, selectable); a fixed hash salt keeps the SVG ids reproducible.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "coexplore"}):
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prologue and doctype: it goes inside HTML
    for gid, texts in tips.items():
        svg = _tip_group(svg, gid, texts)
    return f'<div class="hover-plot">{svg}</div>'


def _tip_group(svg: str, gid: str, texts: list[str]) -> str:
    start = svg.find(f'<g id="{escape(gid)}">')
    if start < 0:
        return svg
    end = svg.index("</g>\n   </g>", start)  # the clip group closes, then the collection's
    points = iter(texts)

    def titled(match: re.Match[str]) -> str:
        text = next(points, None)
        if text is None:
            return match.group(0)
        return f'{match.group(0)[:-2]} class="tip"><title>{escape(text)}</title></use>'

    return svg[:start] + _USE.sub(titled, svg[start:end]) + svg[end:]


def trial_tip(t: TrialRecord, status: str) -> str:
    """What hovering a trial's point says: architecture, design, metrics (lines)."""
    m = t.metrics
    lines = [f"trial {t.number} ({status})", "architecture: " + arch_text(t.arch) + _head(t.arch)]
    lines += design_lines(t.hardware)
    if t.accuracy is not None:
        images = t.val_images
        noise = ""
        if images:
            low, high = interval(t.accuracy, images)
            noise = f" (95 % {low:.3f}-{high:.3f} on {images:,} images)"
        epochs = f", {epochs_text(t.epochs)}" if t.epochs else ""
        lines.append(f"validation accuracy {t.accuracy:.3f} at {t.precision}{noise}{epochs}")
        if t.float_accuracy is not None and t.float_accuracy != t.accuracy:
            lines.append(f"float accuracy {t.float_accuracy:.3f}")
    lines.append(
        f"{m.get('fps', 0):,.0f} FPS, {m.get('gops_per_w', 0):.1f} GOPS/W, "
        f"pipeline {m.get('pipeline_efficiency', 0):.0%}, {m.get('latency_ms', 0):.2f} ms, "
        f"{m.get('power_w', 0):.2f} W"
    )
    if t.reward is not None:
        lines.append(f"reward {t.reward:.3f}")
    return "\n".join(lines)


def _head(arch: dict[str, Any]) -> str:
    """A chain's workload ends in its classifier, which the FPGA lines count as a layer: say
    so, or a 6-layer chain seems to run 'layers 5-7'."""
    layers = arch.get("layers")
    return f" + classifier (layer {len(layers) + 1})" if isinstance(layers, list) else ""


def epochs_text(epochs: float) -> str:
    """The training a child got, as the tip says it: '1 epoch', '8 epochs'.

    >>> epochs_text(1.0), epochs_text(8.0)
    ('1 epoch', '8 epochs')
    """
    count = int(epochs)
    return f"{count} epoch" + ("" if count == 1 else "s")


def arch_text(arch: dict[str, Any]) -> str:
    """'3x3/36 5x5/48/s2 ...' for chains (kernel, filters, stride 2), else the stored string."""
    if "layers" in arch:
        return " ".join(
            f"{x['kernel']}x{x['kernel']}/{x['filters']}"
            + ("/s2" if x.get("stride", 1) != 1 else "")
            for x in arch["layers"]
        )
    return str(arch.get("arch", arch))


def design_lines(hardware: dict[str, Any] | None) -> list[str]:
    """One line per FPGA stage: device, layers it runs, tiling <Tm, Tn, Tr, Tc>."""
    if not hardware:
        return ["design: none"]
    lines = []
    for i, stage in enumerate(hardware.get("stages", [])):
        tiling = stage.get("tiling", {})
        tiles = ", ".join(str(tiling.get(k, "?")) for k in ("tm", "tn", "tr", "tc"))
        layers = layer_span(stage.get("first_layer", 0), stage.get("last_layer", 0))
        lines.append(
            f"FPGA {numbered(i)}: {stage.get('device')} layers {layers}, <Tm,Tn,Tr,Tc> = <{tiles}>"
        )
    return lines or ["design: none"]
