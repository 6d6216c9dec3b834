"""The paper-style comparison table: one row per run, aggregated per strategy over seeds.

Per run: the best accuracy meeting the spec (OptSW) with its FPS, GOPS/W and pipeline
efficiency; architectures explored / pruned / trained; wall time and training hours; the
hypervolume of accuracy x FPS and of accuracy x GOPS/W (docs/baselines.md gives the reference
points) and, on a tabular space, its ratio to the true front's.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from rich.console import Group

from coexplore.compare.runs import StrategyRun, is_trained, training_epochs
from coexplore.config import Config
from coexplore.errors import InputError
from coexplore.results.pareto import hypervolume, reference_point, trial_points
from coexplore.results.picks import pick
from coexplore.storage import TrialRecord, TrialState
from coexplore.tables import add_figures, add_texts, narrow_table, with_notes
from coexplore.tabular.benchmark import HW_METRICS, Benchmark

NAN = float("nan")


@dataclass(frozen=True)
class RunSummary:
    strategy: str
    seed: int
    best_accuracy: float  # OptSW: the best accuracy meeting the spec (nan: none meets it)
    fps: float
    gops_per_w: float
    pipeline_efficiency: float
    explored: int
    pruned: int
    trained: int
    wall_seconds: float
    training_hours: float
    hv_fps: float
    hv_gops_per_w: float
    hv_ratio_fps: float  # nan unless the space is tabular
    hv_ratio_gops_per_w: float
    epochs: float = NAN  # training epochs spent (`runs.training_epochs`); nan: the true front


def references(config: Config) -> dict[str, tuple[float, float]]:
    floor = config.reward.acc_bounds[0]
    return {m: reference_point(m, config.spec.fps, floor) for m in HW_METRICS}


def summarise(run: StrategyRun, config: Config, bench: Benchmark | None) -> RunSummary:
    trials = list(run.trials)
    best = pick(trials, config.reward.metric, config.picks.accuracy_gap).opt_sw
    hv = {m: hypervolume(trial_points(trials, m), ref) for m, ref in references(config).items()}
    true = {m: bench.front(m).hypervolume if bench else NAN for m in HW_METRICS}
    metric = (lambda key: best.metrics[key]) if best else (lambda key: NAN)
    return RunSummary(
        strategy=run.strategy,
        seed=run.seed,
        best_accuracy=best.accuracy if best and best.accuracy is not None else NAN,
        fps=metric("fps"),
        gops_per_w=metric("gops_per_w"),
        pipeline_efficiency=metric("pipeline_efficiency"),
        explored=len(trials),
        pruned=sum(t.state is TrialState.PRUNED for t in trials),
        trained=sum(is_trained(t) for t in trials),
        wall_seconds=run.wall_seconds,
        training_hours=sum(t.timings.get("train_seconds", 0.0) for t in trials) / 3600,
        hv_fps=hv["fps"],
        hv_gops_per_w=hv["gops_per_w"],
        hv_ratio_fps=_ratio(hv["fps"], true["fps"]),
        hv_ratio_gops_per_w=_ratio(hv["gops_per_w"], true["gops_per_w"]),
        epochs=training_epochs(trials),
    )


def _ratio(value: float, whole: float) -> float:
    return value / whole if whole and math.isfinite(whole) else NAN


def hypervolume_curve(
    trials: Sequence[TrialRecord], metric: str, reference: tuple[float, float]
) -> list[float]:
    """Hypervolume of the trials up to and including the k-th trained child, k = 1, 2, ..."""
    ordered = sorted(trials, key=lambda t: t.number)
    curve: list[float] = []
    for at, t in enumerate(ordered):
        if is_trained(t):
            curve.append(hypervolume(trial_points(ordered[: at + 1], metric), reference))
    return curve


def epochs_curve(
    trials: Sequence[TrialRecord], metric: str, reference: tuple[float, float]
) -> tuple[list[int], list[float]]:
    """(training epochs spent, hypervolume) after each trained child, in trial order: the
    hypervolume a run held once that many epochs were spent (`runs.within_epochs`)."""
    ordered = sorted(trials, key=lambda t: t.number)
    spent, epochs = 0, []
    for t in ordered:
        if is_trained(t):
            spent += t.epochs
            epochs.append(spent)
    return epochs, hypervolume_curve(ordered, metric, reference)


def true_front_row(bench: Benchmark, config: Config) -> RunSummary:
    """The exhaustive ground truth: every tabulated architecture, nothing trained."""
    front = {m: bench.front(m) for m in HW_METRICS}
    if not front["fps"].points:
        raise InputError(f"no tabulated architecture meets the spec of {config.spec.fps:g} FPS")
    row = bench.hardware.row_of(front["fps"].indices[0])  # the front's most accurate point
    assert row is not None
    values = {m: float(bench.hardware.metrics[m][row]) for m in bench.hardware.metrics}
    return RunSummary(
        "true front",
        -1,
        front["fps"].points[0][1],
        values["fps"],
        values["gops_per_w"],
        values["pipeline_efficiency"],
        len(bench.accuracy.indices),
        0,
        0,
        NAN,
        NAN,
        front["fps"].hypervolume,
        front["gops_per_w"].hypervolume,
        1.0,
        1.0,
    )


# -- writing the table --------------------------------------------------------------------------

_COLUMNS = (  # (header, field, format)
    ("best acc (spec)", "best_accuracy", "{:.4f}"),
    ("FPS", "fps", "{:,.1f}"),
    ("GOPS/W", "gops_per_w", "{:.2f}"),
    ("pipe. eff.", "pipeline_efficiency", "{:.3f}"),
    ("explored", "explored", "{:.0f}"),
    ("pruned", "pruned", "{:.0f}"),
    ("trained", "trained", "{:.0f}"),
    ("epochs", "epochs", "{:.0f}"),
    ("wall s", "wall_seconds", "{:.1f}"),
    ("train h", "training_hours", "{:.3f}"),
    ("HV acc x FPS", "hv_fps", "{:.4g}"),
    ("HV acc x GOPS/W", "hv_gops_per_w", "{:.4g}"),
    ("HV ratio FPS", "hv_ratio_fps", "{:.3f}"),
    ("HV ratio GOPS/W", "hv_ratio_gops_per_w", "{:.3f}"),
)


def write_csv(path: Path, rows: Sequence[RunSummary]) -> None:
    names = [f.name for f in fields(RunSummary)]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def markdown_table(rows: Sequence[RunSummary]) -> str:
    """One line per strategy: the mean over its seeds, with ± std where there are several."""
    strategies = list(dict.fromkeys(r.strategy for r in rows))
    lines = [
        "| strategy | seeds | " + " | ".join(h for h, _, _ in _COLUMNS) + " |",
        "| --- | ---: |" + " ---: |" * len(_COLUMNS),
    ]
    for strategy in strategies:
        group = [r for r in rows if r.strategy == strategy]
        seeds = "-" if group[0].seed < 0 else str(len(group))
        cells = [_cell([getattr(r, name) for r in group], fmt) for _, name, fmt in _COLUMNS]
        lines.append(f"| {strategy} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# The terminal's narrow view (every column is in compare.md and compare.csv): (header, field,
# format); a cell's ± std and its count of runs with a value go on lines of their own.
_TERMINAL = (
    ("best acc", "best_accuracy", "{:.4f}"),
    ("FPS", "fps", "{:,.1f}"),
    ("GOPS/W", "gops_per_w", "{:.2f}"),
    ("trained", "trained", "{:.0f}"),
    ("HV acc\nx FPS", "hv_fps", "{:.4g}"),
    ("HV ratio\nFPS", "hv_ratio_fps", "{:.3f}"),
)


def terminal_table(rows: Sequence[RunSummary]) -> Group:
    """The comparison for an 80-column terminal or a pipe: one row per strategy, the mean over
    its seeds with ± std under it (tests/test_cli_tables.py renders it)."""
    table = narrow_table("Strategies, mean over seeds (best acc: OptSW, among spec-meeting)")
    add_texts(table, "strategy")
    add_figures(table, "seeds", *(header for header, _, _ in _TERMINAL))
    for strategy in dict.fromkeys(r.strategy for r in rows):
        group = [r for r in rows if r.strategy == strategy]
        seeds = "-" if group[0].seed < 0 else str(len(group))
        cells = [_lines([getattr(r, name) for r in group], fmt) for _, name, fmt in _TERMINAL]
        table.add_row(strategy, seeds, *cells)
    return with_notes(table, ["every column (pruned, wall time, HV of acc x GOPS/W, ...): "
                              "compare.md, compare.csv"])  # fmt: skip


def _lines(values: list[float], fmt: str) -> str:
    """`_cell` on lines: the mean, then ± std, then (runs with a value / runs) if not all."""
    return _cell(values, fmt).replace(" ± ", "\n± ").replace(" (", "\n(")


def _cell(values: list[float], fmt: str) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "-"
    text = fmt.format(float(np.mean(finite)))
    if len(finite) > 1:
        text += " ± " + fmt.format(float(np.std(finite)))
    return text if len(finite) == len(values) else f"{text} ({len(finite)}/{len(values)})"
