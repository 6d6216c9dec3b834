"""A whole comparison: every strategy x seed on one config, then the table and the figures.

Folder layout (`out`): runs/<strategy>-s<seed>/ (a normal run folder each), compare.md,
compare.csv, fronts.png, hypervolume.png and, where children were trained for epochs,
hypervolume-epochs.png.

With a budget of training epochs (`epochs_budget`) each run stops once it has spent that many
and is scored on what it had trained when they were spent (`runs.within_epochs`): the table and
the fronts are of those trials; the epochs plot shows the whole runs with the budget marked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coexplore.compare.plots import plot_fronts, plot_hypervolume, plot_hypervolume_epochs
from coexplore.compare.runs import (
    StrategyRun,
    outputs,
    run_strategy,
    strategy_names,
    training_epochs,
    within_epochs,
)
from coexplore.compare.summary import (
    RunSummary,
    markdown_table,
    references,
    summarise,
    true_front_row,
    write_csv,
)
from coexplore.config import Config
from coexplore.errors import InputError
from coexplore.tabular.benchmark import Benchmark, is_tabular, load_benchmark

Say = Callable[[str], None]


@dataclass(frozen=True)
class Comparison:
    out: Path
    runs: tuple[StrategyRun, ...]
    rows: tuple[RunSummary, ...]  # one per run, then the true front on a tabular space
    markdown: str


def parse_strategies(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in strategy_names()]
    if unknown or not names:
        raise InputError(
            f"--strategies: unknown {', '.join(unknown) or 'empty list'}; "
            f"strategies: {', '.join(strategy_names())}"
        )
    return names


def parse_seeds(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(f"--seeds: expected seeds like 0,1,2, got {text!r}")
    return tuple(dict.fromkeys(int(p) for p in parts))


def run_comparison(
    config: Config,
    strategies: Sequence[str],
    seeds: Sequence[int],
    out: Path,
    trained: int = 0,
    workers: int = 2,
    say: Say | None = None,
    epochs_budget: int = 0,
) -> Comparison:
    """Run (or continue) every strategy and seed, then write the table and the figures; with
    `epochs_budget`, each run scored on what it had trained when that many epochs were spent."""
    if "exhaustive" in strategies and not is_tabular(config):
        raise InputError(
            "--strategies: exhaustive needs a tabular config (data.dataset nb201_table)"
        )
    bench = load_benchmark(config, workers, say=say) if is_tabular(config) else None
    runs = tuple(
        run_strategy(
            config, m, s, out / "runs" / f"{m}-s{s}", trained, bench, say=say, epochs=epochs_budget
        )
        for m in strategies
        for s in seeds
    )
    for run in runs:
        outputs(run, config, bench)
    scored = tuple(_within_budget(r, epochs_budget, say) for r in runs)
    rows = tuple(summarise(r, config, bench) for r in scored)
    if bench is not None:
        rows += (true_front_row(bench, config),)
    comparison = _write(out, config, scored, rows, bench, epochs_budget)
    if any(training_epochs(r.trials) for r in runs):
        plot_hypervolume_epochs(
            out / "hypervolume-epochs.png", runs, references(config), bench, epochs_budget
        )
    return comparison


def _within_budget(run: StrategyRun, budget: int, say: Say | None) -> StrategyRun:
    """`run` as scored at `budget` training epochs (0: all of it); says so when the run spent
    fewer, since it is then scored on less than the budget."""
    spent = training_epochs(run.trials)
    if budget and spent < budget and say:
        say(
            f"{run.strategy} seed {run.seed} spent {spent} training epochs, fewer than the "
            f"budget of {budget}: scored on all it trained (raise run.trials)"
        )
    return dataclasses.replace(run, trials=within_epochs(run.trials, budget))


def _write(
    out: Path,
    config: Config,
    runs: tuple[StrategyRun, ...],
    rows: tuple[RunSummary, ...],
    bench: Benchmark | None,
    epochs_budget: int = 0,
) -> Comparison:
    markdown = markdown_table(rows)
    (out / "compare.md").write_text(_heading(config, bench, epochs_budget) + markdown)
    write_csv(out / "compare.csv", rows)
    plot_fronts(out / "fronts.png", runs, config.spec.fps, bench)
    plot_hypervolume(out / "hypervolume.png", runs, references(config), bench)
    return Comparison(out, runs, rows, markdown)


def _heading(config: Config, bench: Benchmark | None, epochs_budget: int = 0) -> str:
    refs = ", ".join(f"{m}: {r}" for m, r in references(config).items())
    where = "tabular (NAS-Bench-201 table, true fronts known)" if bench else "trained children"
    budget = (
        f"Each run scored on what it had trained when {epochs_budget} training epochs were spent.\n"
        if epochs_budget
        else ""
    )
    return (
        f"# Comparison\n\nspace {config.space.name}, data {config.data.dataset} ({where}), "
        f"pool {config.hardware.pool}, spec {config.spec.fps:g} FPS, reward metric "
        f"{config.reward.metric}.\nHypervolume reference points (metric, accuracy): "
        f"{refs}.\n{budget}\n"
    )
