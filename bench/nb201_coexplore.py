"""Co-exploration against the baselines on the NAS-Bench-201 table training-free.

Every strategy (the default `coexplore`, the paper's RL controller `rl`, random, random among
spec-meeting children, NAS, hardware-aware NAS hard and soft, NSGA-II, multi-objective TPE, and
random enumeration without replacement) runs through the normal loop and storage on the `nb201`
preset, the accuracy coming from the NATS-Bench table and the hardware from our exact model
(cached hardware table). Each run stops after `--budget` trained children; hardware-aware NAS
runs `--hwnas-budget` (1,000) so that the trainings it needs to reach its best are not capped.
Scores by network: NAS-Bench-201's cells compute fewer networks (NATS-Bench's `UniqueString`
classes), and NATS-Bench trained every cell separately, so the copies of one network differ by
training noise. A network's accuracy is the mean over its copies (`tabular.accuracy.
network_means`, what a user should expect from training it); the true front is over networks,
each at the hardware of its copies; a run that trained any copy scores that network, at the
trained copy's own hardware (copies share it but where the `UniqueString` merges networks that
share weights differently: docs/spaces.md). A child the loop reused (its network, by the
space's computation key, trained before as another cell) scores the class of the cell that was
trained. Without the CSV's `UniqueString` column every cell
is its own network. The cell-level scores (each cell its own accuracy, the true front over
cells, as in the literature) are printed beside them.
Prints
- per strategy, mean ± std over the seeds of the hypervolume ratio to the TRUE front
  (accuracy x FPS and accuracy x GOPS/W, spec-meeting children only) after 50, 100, 200 trained,
  by network, then by cell;
- search time: the trainings co-exploration needs to reach the best spec-meeting accuracy that
  hardware-aware NAS reaches, against the trainings hardware-aware NAS itself needed (cf. the
  paper's 136x; cell accuracies);
- at matched accuracy (co-exploration children at least as accurate as hardware-aware NAS's
  best), co-exploration's best FPS and GOPS/W over hardware-aware NAS's (cf. +35 % / +54 %);
- last, lines for scripts: per metric and strategy
  `hypervolume <metric>: <strategy> <r50>/<r100>/<r200>` (by network, means over the seeds),
  then `hv-keys <metric>: ...` (by computation key: each cell at the mean over the cells of
  its key, the true front over keys), then `hv-cells <metric>: <strategy> <r50>/<r100>/<r200>`
  (by cell), then per ratio r (0.95,
  0.99), metric and strategy `trainings to <r> <metric>: <strategy> <median> (<reached> of
  <seeds> seeds)`: the trainings a run needs until its network hypervolume reaches r times the
  true front's, the lower median over the seeds (a seed that never reaches it counts as never),
  `none` when fewer than half the seeds reach it.

Usage: COEXPLORE_NB201_CSV=PATH .venv/bin/python bench/nb201_coexplore.py
         [--csv PATH] [--seeds 10] [--budget 200] [--hwnas-budget 1000] [--out DIR]
         [--strategies coexplore,nsga2,...] [--set section.key=value ...]
e.g. --set data.accuracy_column=cifar100 --set reward.acc_bounds=[0.6,0.75] (the hypervolume's
reference accuracy is reward.acc_bounds low), --set spec.fps=150, --set hardware.pool=...
Runtime on the 2-core development machine: about 25 minutes once the hardware table of the pool
is cached; the first run on a pool builds it (15,625 designs, about 3 CPU-minutes on 2
processes) into ~/.cache/coexplore (or $COEXPLORE_CACHE).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coexplore.commands.options import set_overrides
from coexplore.compare.runs import StrategyRun, is_trained, run_strategy, strategy_names
from coexplore.compare.summary import hypervolume_curve
from coexplore.config import Config, load_config
from coexplore.results.picks import feasible_trials, pick
from coexplore.spaces import Nb201Arch
from coexplore.storage import TrialRecord
from coexplore.tabular.accuracy import AccuracyTable, network_means
from coexplore.tabular.benchmark import HW_METRICS, Benchmark, load_benchmark
from coexplore.tabular.fronts import true_front

CHECKPOINTS = (50, 100, 200)
REACH = (0.95, 0.99)  # fractions of the true front's network hypervolume
HWNAS = ("hwnas", "hwnas_soft")


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


@dataclass(frozen=True)
class Scoring:
    """How runs are scored: the accuracy each architecture index scores with (None: its own)
    and, per metric, the hypervolume of the true front under that accuracy."""

    accuracy: dict[int, float] | None
    front: dict[str, float]


def scorings(bench: Benchmark) -> dict[str, Scoring]:
    """By network (each cell at its network's mean accuracy, against the front over networks),
    by computation key (the same with our key as the network) and by cell (each cell at its
    own accuracy, against the front over cells)."""

    def by_means(table: AccuracyTable) -> Scoring:
        means = network_means(table)
        fronts = {
            m: true_front(means, bench.hardware, m, bench.spec_fps, bench.reference(m)).hypervolume
            for m in HW_METRICS
        }
        return Scoring(
            dict(zip(means.indices.tolist(), means.accuracy.tolist(), strict=True)), fronts
        )

    return {
        "networks": by_means(bench.accuracy),
        "keys": by_means(key_table(bench)),
        "cells": Scoring(None, {m: bench.front(m).hypervolume for m in HW_METRICS}),
    }


def key_table(bench: Benchmark) -> AccuracyTable:
    """The accuracy table with each cell's network its computation key (docs/spaces.md): the
    network the loop never trains twice. NATS-Bench's `UniqueString` splits some of these
    networks into several classes (by the text order of a node's terms) and merges others."""
    space, table = bench.problem.space, bench.accuracy
    keys = [space.computation_key(Nb201Arch.from_index(int(i))) for i in table.indices]
    _, ids = np.unique(np.array(keys), return_inverse=True)
    return dataclasses.replace(table, computation=ids)


def ratio_curve(run: StrategyRun, bench: Benchmark, metric: str, scoring: Scoring) -> list[float]:
    """Hypervolume ratio to the true front after each training of `run`."""
    trials = scored(run.trials, bench, scoring.accuracy) if scoring.accuracy else run.trials
    curve = hypervolume_curve(trials, metric, bench.reference(metric))
    return [value / scoring.front[metric] for value in curve]


def ratio_curves(
    runs: list[StrategyRun], bench: Benchmark, metric: str, scoring: Scoring
) -> list[list[float]]:
    return [ratio_curve(run, bench, metric, scoring) for run in runs]


def at(curves: list[list[float]], k: int) -> list[float]:
    """Per curve, the ratio after `k` trainings (its last, if it trained fewer)."""
    return [curve[min(k, len(curve)) - 1] if curve else 0.0 for curve in curves]


def scored(
    trials: tuple[TrialRecord, ...], bench: Benchmark, accuracy: dict[int, float]
) -> tuple[TrialRecord, ...]:
    """`trials` with each trained child's accuracy replaced by the one it scores with: that of
    the cell it trained. A reused child (`reused_from`: the loop found its network trained
    before, possibly as another cell) trained nothing and scores the trained cell's, as its
    stored accuracy is; scoring its own cell would credit a strategy that proposes copies with
    the luck of cells it never trained."""
    space, by_number = bench.problem.space, {t.number: t for t in trials}

    def trained_cell(t: TrialRecord) -> int:
        source = by_number.get(t.reused_from, t) if t.reused_from is not None else t
        return int(space.from_json(source.arch).index)

    return tuple(
        dataclasses.replace(t, accuracy=accuracy[trained_cell(t)]) if t.accuracy is not None else t
        for t in trials
    )


def trainings_to(curves: list[list[float]], ratio: float) -> tuple[int | None, int]:
    """(the lower median over the runs of the trainings until a ratio curve reaches `ratio`,
    a run that never does counting as never: None when fewer than half reach it; how many do)."""
    needed = [next((k + 1 for k, v in enumerate(c) if v >= ratio - 1e-12), None) for c in curves]
    reached = sorted(n for n in needed if n is not None)
    never = [math.inf] * (len(needed) - len(reached))
    median = statistics.median_low([*reached, *never]) if needed else math.inf
    return (None if median == math.inf else int(median)), len(reached)


def capped(config: Config, budget: int) -> Config:
    """At most 10x the budget of children sampled (pruned and repeated ones included): a
    strategy that keeps proposing repeats stops there."""
    return dataclasses.replace(config, run=dataclasses.replace(config.run, trials=10 * budget))


def print_final_lines(
    runs: dict[str, list[StrategyRun]],
    bench: Benchmark,
    scoring: dict[str, Scoring] | None = None,
) -> None:
    """The lines for scripts (the module docstring)."""
    print()
    scoring = scoring or scorings(bench)  # the caller's, when it has them (a key per cell)
    for label, name in (("hypervolume", "networks"), ("hv-keys", "keys"), ("hv-cells", "cells")):
        for metric in HW_METRICS:
            for strategy, group in runs.items():
                curves = ratio_curves(group, bench, metric, scoring[name])
                means = [statistics.mean(at(curves, k)) for k in CHECKPOINTS]
                print(f"{label} {metric}: {strategy} " + "/".join(f"{v:.3f}" for v in means))
    for ratio in REACH:
        for metric in HW_METRICS:
            for strategy, group in runs.items():
                curves = ratio_curves(group, bench, metric, scoring["networks"])
                median, reached = trainings_to(curves, ratio)
                print(
                    f"trainings to {ratio:g} {metric}: {strategy} "
                    f"{'none' if median is None else median} ({reached} of {len(group)} seeds)"
                )


def best_curve(trials: tuple[TrialRecord, ...]) -> list[float]:
    """Best spec-meeting accuracy after each training (-inf before the first)."""
    best, curve = -math.inf, []
    for t in sorted(trials, key=lambda t: t.number):
        if feasible_trials([t]):
            best = max(best, t.accuracy)
        if is_trained(t):
            curve.append(best)
    return curve


def trainings_to_reach(curve: list[float], target: float) -> int | None:
    return next((k + 1 for k, best in enumerate(curve) if best >= target - 1e-12), None)


def print_hypervolumes(
    runs: dict[str, list[StrategyRun]], bench: Benchmark, budget: int, scoring: Scoring, by: str
) -> None:
    for metric in HW_METRICS:
        marks = [k for k in CHECKPOINTS if k <= budget]
        print(
            f"\nHypervolume ratio to the true front by {by}, accuracy x {metric} "
            "(mean ± std over seeds):"
        )
        print(
            f"{'strategy':<12}"
            + "".join(f"{f'after {k} trained':>22}" for k in marks)
            + f"{'trained (min)':>15}"
        )
        for name, group in runs.items():
            curves = ratio_curves(group, bench, metric, scoring)
            cells = "".join(f"{mean_std(at(curves, k)):>22}" for k in marks)
            least = min(sum(is_trained(t) for t in r.trials) for r in group)
            print(f"{name:<12}{cells}{least:>15}")


def print_search_time(runs: dict[str, list[StrategyRun]], baseline: str) -> None:
    print(f"\nSearch time: trainings to reach {baseline}'s best spec-meeting accuracy")
    ratios = []
    for co, hw in zip(runs["coexplore"], runs[baseline], strict=True):
        hw_curve, co_curve = best_curve(hw.trials), best_curve(co.trials)
        target = hw_curve[-1] if hw_curve else -math.inf
        n_hw, n_co = trainings_to_reach(hw_curve, target), trainings_to_reach(co_curve, target)
        ratio = f"{n_hw / n_co:.2f}x" if n_hw and n_co else "n/a"
        if n_hw and n_co:
            ratios.append(n_hw / n_co)
        print(
            f"  seed {co.seed}: {baseline} best {target:.4f} after {n_hw} trainings; "
            f"co-exploration reaches it after {n_co or 'never (within budget)'}: {ratio}"
        )
    if ratios:
        print(
            f"  ratio {baseline} / co-exploration: mean {statistics.mean(ratios):.2f}x, "
            f"median {statistics.median(ratios):.2f}x over {len(ratios)} seed(s)"
        )


def print_matched(
    runs: dict[str, list[StrategyRun]], config: Config, bench: Benchmark, baseline: str
) -> None:
    print(
        f"\nMatched accuracy: co-exploration's best hardware among its children at least as "
        f"accurate as {baseline}'s best (OptSW)"
    )
    gains: dict[str, list[float]] = {m: [] for m in HW_METRICS}
    same_net: dict[str, list[float]] = {m: [] for m in HW_METRICS}
    for co, hw in zip(runs["coexplore"], runs[baseline], strict=True):
        ref = pick(list(hw.trials), "fps", config.picks.accuracy_gap).opt_sw
        if ref is None:
            print(f"  seed {co.seed}: {baseline} found no spec-meeting child")
            continue
        matched = [
            t for t in feasible_trials(list(co.trials)) if t.accuracy >= ref.accuracy - 1e-12
        ]
        row = bench.hardware.row_of(bench.problem.space.from_json(ref.arch).index)
        text = []
        for m in HW_METRICS:
            if row is not None:
                same_net[m].append(bench.hardware.metrics[m][row] / ref.metrics[m] - 1)
            if matched:
                gains[m].append(max(t.metrics[m] for t in matched) / ref.metrics[m] - 1)
                text.append(f"{m} {100 * gains[m][-1]:+.1f} %")
        print(
            f"  seed {co.seed}: {baseline} acc {ref.accuracy:.4f} at "
            f"{ref.metrics['fps']:.1f} FPS, {ref.metrics['gops_per_w']:.2f} GOPS/W; "
            f"co-exploration: {', '.join(text) or 'no child that accurate'}"
        )
    for m in HW_METRICS:
        if gains[m]:
            print(
                f"  {m}: co-exploration over {baseline} {100 * statistics.mean(gains[m]):+.1f} %"
                f" (mean of {len(gains[m])} seeds; min {100 * min(gains[m]):+.1f} %, max "
                f"{100 * max(gains[m]):+.1f} %)"
            )
        if same_net[m]:
            print(
                f"  {m}: {baseline}'s own best network on its optimal (co-designed) hardware "
                f"{100 * statistics.mean(same_net[m]):+.1f} %"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="", help="NATS-Bench accuracy CSV")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=200, help="trained children per run")
    parser.add_argument("--hwnas-budget", type=int, default=1000, help="the same for hwnas")
    parser.add_argument("--out", type=Path, default=None, help="keep the run folders here")
    parser.add_argument("--strategies", default="", help="comma-separated (default: all)")
    parser.add_argument(
        "--set", action="append", default=[], help="config override section.key=value"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    names = [n for n in args.strategies.split(",") if n] or list(strategy_names())
    if unknown := [n for n in names if n not in strategy_names()]:
        valid = ", ".join(strategy_names())
        parser.error(f"unknown strategies {', '.join(unknown)}; valid: {valid}")
    budgets = {n: args.hwnas_budget if n in HWNAS else args.budget for n in names}
    config = load_config("nb201", overrides={"data.root": args.csv, **set_overrides(args.set)})
    bench = load_benchmark(config, workers=2, say=print)
    fronts = {m: bench.front(m) for m in HW_METRICS}
    print(
        f"accuracy column {config.data.accuracy_column}; "
        f"pool {config.hardware.pool}, spec {config.spec.fps:g} FPS: "
        f"{fronts['fps'].feasible:,} of {len(bench.accuracy.indices):,} cells meet it; true "
        f"front {len(fronts['fps'].points)} points (acc x FPS), "
        f"{len(fronts['gops_per_w'].points)} (acc x GOPS/W); reference points (metric, acc) "
        f"{bench.reference('fps')}, {bench.reference('gops_per_w')}"
    )
    for metric, front in fronts.items():
        if front.hypervolume <= 0:  # every ratio would divide by it
            parser.error(
                f"the true accuracy x {metric} front has no area above the reference point "
                f"{bench.reference(metric)}: no spec-meeting cell beats it; lower "
                "reward.acc_bounds or spec.fps"
            )
    with tempfile.TemporaryDirectory(prefix="nb201-bench-") as scratch:
        out = args.out or Path(scratch)  # kept only when --out is given
        runs = {
            name: [
                run_strategy(
                    capped(config, budgets[name]),
                    name,
                    seed,
                    out / f"{name}-s{seed}",
                    budgets[name],
                    bench,
                )
                for seed in range(args.seeds)
            ]
            for name in names
        }
    print(
        "search wall seconds per run (mean): "
        + ", ".join(
            f"{n} {statistics.mean(r.wall_seconds for r in g):.1f}" for n, g in runs.items()
        )
    )
    scoring = scorings(bench)
    if bench.accuracy.computation is None:
        print("the CSV has no UniqueString column: every cell is scored as its own network")
    print_hypervolumes(runs, bench, args.budget, scoring["networks"], "network")
    print_hypervolumes(runs, bench, args.budget, scoring["keys"], "computation key")
    print_hypervolumes(runs, bench, args.budget, scoring["cells"], "cell")
    for baseline in HWNAS:
        if "coexplore" in runs and baseline in runs:
            print_search_time(runs, baseline)
            print_matched(runs, config, bench, baseline)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    print_final_lines(runs, bench, scoring)


if __name__ == "__main__":
    main()
