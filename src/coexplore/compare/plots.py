"""The comparison's figures: Pareto fronts overlaid, hypervolume against children trained and
against training epochs spent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.compare.runs import StrategyRun
from coexplore.compare.summary import epochs_curve, hypervolume_curve
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
        for strategy, group in by_strategy(runs).items():
            points = [p for r in group for p in trial_points(r.trials, metric)]
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
        for strategy, group in by_strategy(runs).items():
            curves = [hypervolume_curve(r.trials, metric, references[metric]) for r in group]
            mean = _mean_curve(curves) / (whole or 1.0)
            ax.plot(np.arange(1, len(mean) + 1), mean, label=strategy, lw=1.2)
        ax.set_xlabel("children trained")
        ax.set_ylabel(f"hypervolume{' ratio' if bench else ''}: accuracy x {metric}")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_hypervolume_epochs(
    path: Path,
    runs: Sequence[StrategyRun],
    references: dict[str, Any],
    bench: Benchmark | None,
    budget: int = 0,
) -> None:
    """Mean hypervolume (ratio on a tabular space) against the training epochs spent: each run
    holds its hypervolume from the epoch its child finished (a step), the mean over seeds is
    taken at every epoch up to the longest run; `budget` (if any) is marked."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, metric in zip(axes, HW_METRICS, strict=True):
        whole = bench.front(metric).hypervolume if bench else 1.0
        for strategy, group in by_strategy(runs).items():
            steps = [epochs_curve(r.trials, metric, references[metric]) for r in group]
            grid, mean = mean_steps(steps)
            ax.step(grid, mean / (whole or 1.0), where="post", label=strategy, lw=1.2)
        if budget:
            ax.axvline(budget, ls=":", c="0.4", lw=1, label=f"budget {budget} epochs")
        ax.set_xlabel("training epochs spent")
        ax.set_ylabel(f"hypervolume{' ratio' if bench else ''}: accuracy x {metric}")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def mean_steps(steps: list[tuple[list[int], list[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """(epochs 0, 1, ... up to the last run's end; the mean over the runs of their hypervolume
    at each): a run's curve is a step function of the (epochs, hypervolume) pairs of
    `summary.epochs_curve`, 0 before its first trained child, its last value past its end."""
    last = max((e[-1] for e, _ in steps if e), default=0)
    grid = np.arange(last + 1)
    values = [
        np.where(grid >= e[0], np.asarray(v)[np.searchsorted(e, grid, "right") - 1], 0.0)
        if e
        else np.zeros(len(grid))
        for e, v in steps
    ]
    return grid, (np.mean(values, axis=0) if values else np.zeros(len(grid)))


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    """Mean over seeds, each curve held at its last value past its end."""
    length = max((len(c) for c in curves), default=0)
    padded = [c + [c[-1]] * (length - len(c)) for c in curves if c]
    return np.mean(padded, axis=0) if padded else np.zeros(0)


def by_strategy(runs: Sequence[StrategyRun]) -> dict[str, list[StrategyRun]]:
    """The runs of each strategy (its seeds), strategies in the order they first come."""
    groups: dict[str, list[StrategyRun]] = {}
    for run in runs:
        groups.setdefault(run.strategy, []).append(run)
    return groups
