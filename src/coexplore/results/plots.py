"""The one Pareto plot: accuracy against FPS and against GOPS/W, as every command draws it.

The run folder's pareto.png, the report's Pareto figure (with hover tips, coexplore.report.plots)
and `coexplore compare`'s overlaid fronts all draw their fronts with `front_line`: maximising
both, up to each front point's hardware value its accuracy is reachable, so the line steps down
*after* a point is passed ("pre" steps), never claiming a higher accuracy at a larger value.
Figures are made without pyplot, so no backend or global figure state is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from coexplore.results.pareto import Point, feasible_trials, pareto_front
from coexplore.results.picks import Picks, full_fidelity
from coexplore.storage import TrialRecord, TrialState

METRICS = (("fps", "throughput (FPS)"), ("gops_per_w", "energy efficiency (GOPS/W)"))
LABELS = dict(METRICS)


def front_line(ax: Axes, points: Sequence[Point], label: str, **style: Any) -> None:
    """The Pareto front of `points` (hardware value, accuracy) as a staircase."""
    front = [points[i] for i in pareto_front(points)]
    if front:
        xs, ys = zip(*front, strict=True)
        ax.step(xs, ys, where="pre", label=label, **{"lw": 1.2, **style})


def save_pareto(path: Path, trials: list[TrialRecord], picks: Picks, spec_fps: float) -> None:
    """pareto.png of a run folder."""
    fig, _ = pareto_figure(trials, picks, spec_fps)
    fig.suptitle(f"{len(trials)} trials: accuracy vs hardware efficiency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


Drawn = dict[str, tuple[str, list[TrialRecord]]]
"""Scatter gid -> (what its points are, their trials in drawing order)."""


def pareto_figure(trials: list[TrialRecord], picks: Picks, spec_fps: float) -> tuple[Figure, Drawn]:
    """Accuracy vs FPS and vs GOPS/W: feasible children and their front, the rest marked;
    with what each scatter (by gid) shows, for hover tips."""
    fig = Figure(figsize=(12, 4.6))
    axes = fig.subplots(1, 2)
    drawn: Drawn = {}
    for ax, (metric, label) in zip(axes, METRICS, strict=True):
        drawn |= _pareto_panel(ax, trials, picks, metric)
        if metric == "fps" and spec_fps:
            ax.axvline(spec_fps, ls="--", c="tab:red", lw=1, label=f"spec {spec_fps:g} FPS")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig, drawn


def _pareto_panel(ax: Axes, trials: list[TrialRecord], picks: Picks, metric: str) -> Drawn:
    meets = feasible_trials(trials)
    feasible = full_fidelity(meets)  # compared with each other; the rest trained less
    groups = [
        ("misses", "trained, misses spec", "0.65", [
            t for t in trials
            if t.state is TrialState.COMPLETE and t not in meets
            and metric in t.metrics and t.accuracy is not None
        ]),
        ("early", "meets spec, stopped at an early rung", "lightsteelblue",
         [t for t in meets if t not in feasible]),
        ("meets", "meets spec", "tab:blue", feasible),
    ]  # fmt: skip
    if not any(group for *_, group in groups):
        empty(ax, "no trained child with a design yet")
    drawn: Drawn = {}
    for kind, label, colour, group in groups:
        if group:
            gid = f"{metric}-{kind}"
            ax.scatter(_xs(group, metric), _ys(group), s=16, c=colour, label=label, gid=gid)
            drawn[gid] = (label, group)
    if feasible:
        trial_front_line(ax, feasible, metric, "tab:blue", "Pareto front")
    pruned = [t for t in trials if t.state is TrialState.PRUNED and metric in t.metrics]
    if pruned:  # pruned children have no accuracy: a rug on the x axis shows where they were
        ax.scatter(
            _xs(pruned, metric),
            [0.02] * len(pruned),
            marker="x",
            s=22,
            c="tab:red",
            transform=ax.get_xaxis_transform(),
            label="pruned (not trained)",
            gid=f"{metric}-pruned",
        )
        drawn[f"{metric}-pruned"] = ("pruned: no design meets the spec", pruned)
    for i, (t, marker, name, colour) in enumerate(_pick_markers(picks)):
        ax.scatter(
            [t.metrics[metric]],
            [t.accuracy],
            marker=marker,
            s=130,
            c=colour,
            edgecolors="k",
            linewidths=0.5,
            label=name,
            zorder=3,
            gid=f"{metric}-pick{i}",
        )
        drawn[f"{metric}-pick{i}"] = (name, [t])
    return drawn


def _pick_markers(picks: Picks) -> list[tuple[TrialRecord, str, str, str]]:
    """(trial, marker, label, colour) of OptSW and OptHW; one marker when they are one trial."""
    sw, hw = picks.opt_sw, picks.opt_hw
    if sw is not None and hw is not None and sw.number == hw.number:
        return [(sw, "*", "OptSW = OptHW", "tab:red")]
    marks = [(sw, "*", "OptSW", "tab:red"), (hw, "D", "OptHW", "tab:orange")]
    return [(t, marker, name, colour) for t, marker, name, colour in marks if t is not None]


def trial_front_line(
    ax: Axes, trials: list[TrialRecord], metric: str, colour: Any, label: str
) -> None:
    """The front of `trials` on the accuracy x `metric` plane, its points marked."""
    points = list(zip(_xs(trials, metric), _ys(trials), strict=True))
    front_line(ax, points, label, c=colour, marker="o", ms=3)


def _xs(trials: list[TrialRecord], metric: str) -> list[float]:
    return [t.metrics[metric] for t in trials]


def _ys(trials: list[TrialRecord]) -> list[float]:
    return [t.accuracy for t in trials if t.accuracy is not None]
