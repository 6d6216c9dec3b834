"""The comparison's figures: Pareto fronts overlaid, hypervolume against children trained."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.compare.runs import StrategyRun
from coexplore.compare.summary import hypervolume_curve
from coexplore.results.pareto import trial_points
from coexplore.results.plots import LABELS, front_line
from coexplore.tabular.benchmark import HW_METRICS, Benchmark


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fronts(
    path: Path, runs: Sequence[StrategyRun], spec_fps: float, bench: Benchmark | None
) -> None:
    """Per strategy, the Pareto front of the spec-meeting children of all its seeds together."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric in zip(axes, HW_METRICS, strict=True):
        if bench is not None:
            front_line(ax, bench.front(metric).points, "true front", c="k", ls="--")
        for strategy in dict.fromkeys(r.strategy for r in runs):
            points = [
                p for r in runs if r.strategy == strategy for p in trial_points(r.trials, metric)
            ]
            front_line(ax, points, strategy, marker="o", ms=3)
        if metric == "fps" and spec_fps:
            ax.axvline(spec_fps, ls=":", c="tab:red", lw=1, label="spec")
        ax.set_xlabel(LABELS[metric])
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("Pareto fronts of the children that meet the spec (all seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_hypervolume(
    path: Path, runs: Sequence[StrategyRun], references: dict[str, Any], bench: Benchmark | None
) -> None:
    """Mean hypervolume (ratio to the true front on a tabular space) after k trainings."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, metric in zip(axes, HW_METRICS, strict=True):
        whole = bench.front(metric).hypervolume if bench else 1.0
        for strategy in dict.fromkeys(r.strategy for r in runs):
            curves = [
                hypervolume_curve(r.trials, metric, references[metric])
                for r in runs
                if r.strategy == strategy
            ]
            mean = _mean_curve(curves) / (whole or 1.0)
            ax.plot(np.arange(1, len(mean) + 1), mean, label=strategy, lw=1.2)
        ax.set_xlabel("children trained")
        ax.set_ylabel(f"hypervolume{' ratio' if bench else ''}: accuracy x {metric}")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    """Mean over seeds, each curve held at its last value past its end."""
    length = max((len(c) for c in curves), default=0)
    padded = [c + [c[-1]] * (length - len(c)) for c in curves if c]
    return np.mean(padded, axis=0) if padded else np.zeros(0)
