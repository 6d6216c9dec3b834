"""The search plots of the report: Pareto fronts, their evolution, the funnel, the reward curve.

Every function takes the run's trials and returns a matplotlib Figure; `figure_uri` turns one
into a base64 PNG data URI so the report is one self-contained file. Figures are made without
pyplot, so no backend or global figure state is touched.
"""

from __future__ import annotations

import base64
import io

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from coexplore.report import hover
from coexplore.results.pareto import feasible_trials, pareto_front
from coexplore.results.picks import Picks
from coexplore.results.plots import empty, pareto_figure, trial_front_line
from coexplore.storage import TrialRecord, TrialState

STATE_COLOURS = {
    TrialState.COMPLETE: "tab:blue",
    TrialState.PRUNED: "tab:red",
    TrialState.FAILED: "black",
    TrialState.RUNNING: "0.5",
}
EVOLUTION_SNAPSHOTS = 5


def figure_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pareto_svg(trials: list[TrialRecord], picks: Picks, spec_fps: float) -> str:
    """The Pareto figure (coexplore.results.plots) as inline SVG whose points name their
    trial when hovered."""
    fig, drawn = pareto_figure(trials, picks, spec_fps)
    tips = {
        gid: [hover.trial_tip(t, status) for t in group] for gid, (status, group) in drawn.items()
    }
    return hover.svg_with_tips(fig, tips)


def evolution_figure(trials: list[TrialRecord]) -> Figure:
    """The accuracy-vs-FPS front after growing numbers of trials, and the best accuracy so far."""
    fig = Figure(figsize=(12, 4.2))
    left, right = fig.subplots(1, 2)
    feasible = feasible_trials(trials)
    if not feasible:
        empty(left, "no child has met the spec yet")
        empty(right, "no child has met the spec yet")
    cmap = matplotlib.colormaps["viridis"]
    for i, limit in enumerate(_snapshots(trials)):
        seen = [t for t in feasible if t.number < limit]
        if seen:
            colour = cmap(0.85 * i / max(1, EVOLUTION_SNAPSHOTS - 1))  # the top end is too pale
            trial_front_line(left, seen, "fps", colour, f"after {limit} trials")
    left.set_xlabel("throughput (FPS)")
    left.set_ylabel("validation accuracy")
    if feasible:
        left.legend(fontsize=8, loc="best")
        _progress_panel(right, trials)
    left.set_title("Pareto front (meets spec) as the search went on", fontsize=10)
    fig.tight_layout()
    return fig


def _snapshots(trials: list[TrialRecord]) -> list[int]:
    """Trial counts at which to draw the front: evenly spread, the last one being all trials."""
    if not trials:
        return []
    total = trials[-1].number + 1
    return sorted(
        {max(1, round(total * (k + 1) / EVOLUTION_SNAPSHOTS)) for k in range(EVOLUTION_SNAPSHOTS)}
    )


def _progress_panel(ax: Axes, trials: list[TrialRecord]) -> None:
    feasible = {t.number for t in feasible_trials(trials)}
    numbers, best, sizes = [], [], []
    front: list[tuple[float, float]] = []  # kept small: only the front is carried forward
    for t in trials:
        if t.number in feasible:
            points = [*front, (t.metrics["fps"], t.accuracy)]
            front = [points[i] for i in pareto_front(points)]
        if front:
            numbers.append(t.number)
            best.append(max(accuracy for _, accuracy in front))
            sizes.append(len(front))
    ax.step(numbers, best, where="post", c="tab:blue", label="best accuracy (meets spec)")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy", color="tab:blue")
    twin = ax.twinx()
    twin.step(numbers, sizes, where="post", c="tab:orange", label="front size")
    twin.set_ylabel("points on the FPS front", color="tab:orange")
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("best accuracy and front size over trials", fontsize=10)


def funnel_counts(trials: list[TrialRecord]) -> list[tuple[str, int]]:
    """(stage, trials) from sampled down to trained children that meet the spec."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    pruned = sum(t.state is TrialState.PRUNED for t in trials)
    return [
        ("sampled", len(trials)),
        ("pruned by fast exploration", pruned),
        ("passed to training", len(trials) - pruned),
        ("trained", sum(t.attempts > 0 for t in complete)),
        ("reused (repeated architecture)", sum(t.attempts == 0 for t in complete)),
        ("failed", sum(t.state is TrialState.FAILED for t in trials)),
        ("meets spec", len(feasible_trials(trials))),
    ]


FUNNEL_COLOURS = ("0.55", "tab:red", "tab:cyan", "tab:blue", "tab:purple", "0.2", "tab:green")


def funnel_figure(trials: list[TrialRecord]) -> Figure:
    """Horizontal bars from sampled (top) down to trained children that meet the spec."""
    counts = funnel_counts(trials)
    fig = Figure(figsize=(12, 3.4))
    ax = fig.subplots()
    labels, values = zip(*counts, strict=True)
    ax.barh(labels, values, color=FUNNEL_COLOURS)
    ax.invert_yaxis()  # the funnel reads top to bottom
    total = max(1, len(trials))
    for y, value in enumerate(values):
        ax.text(value, y, f" {value} ({value / total:.0%})", va="center", fontsize=9)
    ax.set_xlim(0, total * 1.15)
    ax.set_xlabel("trials")
    fig.tight_layout()
    return fig


def reward_figure(trials: list[TrialRecord], window: int) -> Figure:
    """Reward of every trial (coloured by state) and its trailing moving mean."""
    fig = Figure(figsize=(12, 3.8))
    ax = fig.subplots()
    scored = [(t.number, t.reward, t.state) for t in trials if t.reward is not None]
    if not scored:
        empty(ax, "no reward yet")
    for state in TrialState:
        group = [(number, reward) for number, reward, s in scored if s is state]
        if group:
            xs, ys = zip(*group, strict=True)
            ax.scatter(xs, ys, s=12, c=STATE_COLOURS[state], label=state.value, alpha=0.8)
    if scored:
        mean = moving_mean([reward for _, reward, _ in scored], window)
        ax.plot(
            [n for n, _, _ in scored],
            mean,
            c="tab:green",
            lw=2,
            label=f"moving mean ({window} trials)",
        )
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("trial")
    ax.set_ylabel("reward")
    fig.tight_layout()
    return fig


def moving_mean(values: list[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` values (fewer at the start)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
