"""Co-exploration against the baselines on the NAS-Bench-201 table, training-free.

Every strategy (the default `coexplore`, the paper's RL controller `rl`, random, random among
spec-meeting children, NAS, hardware-aware NAS hard and soft, NSGA-II, multi-objective TPE, and
random enumeration without replacement) runs through the normal loop and storage on the `nb201`
preset, the accuracy coming from the NATS-Bench table and the hardware from our exact model
(cached hardware table). Each run stops after `--budget` trained children; hardware-aware NAS
runs `--hwnas-budget` (1,000) so that the trainings it needs to reach its best are not capped.
Prints
- per strategy, mean ± std over the seeds of the hypervolume ratio to the TRUE front
  (accuracy x FPS and accuracy x GOPS/W, spec-meeting children only) after 50, 100, 200 trained;
- search time: the trainings co-exploration needs to reach the best spec-meeting accuracy that
  hardware-aware NAS reaches, against the trainings hardware-aware NAS itself needed (cf. the
  paper's 136x);
- at matched accuracy (co-exploration children at least as accurate as hardware-aware NAS's
  best), co-exploration's best FPS and GOPS/W over hardware-aware NAS's (cf. +35 % / +54 %);
- where the CSV has NATS-Bench's `UniqueString` column, the hypervolume ratios and the search
  time again with identical networks credited: a trained cell scores the best accuracy the table
  records for any cell computing the same network at the same metric value
  (`tabular.fronts.identical_best`), so that a search is scored by the networks it found, not
  by which separately trained copy's noise it drew (docs/strategy.md);
- last, one line per metric and strategy, for scripts:
  `hypervolume <metric>: <strategy> <r50>/<r100>/<r200>` (means over the seeds), then, with
  identical networks credited, `hv-credited <metric>: <strategy> <r50>/<r100>/<r200>`.

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
from pathlib import Path

from coexplore.cli import set_overrides
from coexplore.compare.runs import StrategyRun, is_trained, run_strategy, strategy_names
from coexplore.compare.summary import hypervolume_curve
from coexplore.config import Config, load_config
from coexplore.results.picks import feasible_trials, pick
from coexplore.storage import TrialRecord
from coexplore.tabular.benchmark import HW_METRICS, Benchmark, load_benchmark
from coexplore.tabular.fronts import identical_best

CHECKPOINTS = (50, 100, 200)
HWNAS = ("hwnas", "hwnas_soft")


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


Credit = dict[int, float]  # architecture index -> the accuracy it is scored with


def hv_ratios(
    runs: list[StrategyRun], bench: Benchmark, metric: str, k: int, credit: Credit | None = None
) -> list[float]:
    front = bench.front(metric).hypervolume
    out = []
    for run in runs:
        trials = credited(run.trials, bench, credit) if credit else run.trials
        curve = hypervolume_curve(trials, metric, bench.reference(metric))
        out.append(curve[min(k, len(curve)) - 1] / front if curve else 0.0)
    return out


def credited(
    trials: tuple[TrialRecord, ...], bench: Benchmark, credit: Credit
) -> tuple[TrialRecord, ...]:
    """`trials` with each trained child's accuracy replaced by its credited one."""
    space = bench.problem.space
    return tuple(
        dataclasses.replace(t, accuracy=credit[space.from_json(t.arch).index])
        if t.accuracy is not None
        else t
        for t in trials
    )


def credits(bench: Benchmark) -> dict[str, Credit] | None:
    """Per metric, identical networks' best accuracy; None where the table cannot tell."""
    if bench.accuracy.computation is None:
        return None
    return {m: identical_best(bench.accuracy, bench.hardware, m) for m in HW_METRICS}


def capped(config: Config, budget: int) -> Config:
    """At most 10x the budget of children sampled (pruned and repeated ones included): a
    strategy that keeps proposing repeats stops there."""
    return dataclasses.replace(config, run=dataclasses.replace(config.run, trials=10 * budget))


def print_final_lines(
    runs: dict[str, list[StrategyRun]], bench: Benchmark, credit: dict[str, Credit] | None
) -> None:
    """`hypervolume <metric>: <strategy> <r50>/<r100>/<r200>`, mean over the seeds; then the
    same with identical networks credited, as `hv-credited ...`, where the table tells them."""
    print()
    scores = [("hypervolume", None)] + ([("hv-credited", credit)] if credit else [])
    for label, table in scores:
        for metric in HW_METRICS:
            for name, group in runs.items():
                means = [
                    statistics.mean(
                        hv_ratios(group, bench, metric, k, table[metric] if table else None)
                    )
                    for k in CHECKPOINTS
                ]
                print(f"{label} {metric}: {name} " + "/".join(f"{v:.3f}" for v in means))


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
    runs: dict[str, list[StrategyRun]],
    bench: Benchmark,
    budget: int,
    credit: dict[str, Credit] | None = None,
) -> None:
    for metric in HW_METRICS:
        marks = [k for k in CHECKPOINTS if k <= budget]
        print(
            f"\nHypervolume ratio to the true front, accuracy x {metric} (mean ± std over seeds)"
            + (", identical networks credited:" if credit else ":")
        )
        print(
            f"{'strategy':<12}"
            + "".join(f"{f'after {k} trained':>22}" for k in marks)
            + f"{'trained (min)':>15}"
        )
        for name, group in runs.items():
            cells = "".join(
                f"{mean_std(hv_ratios(group, bench, metric, k, credit and credit[metric])):>22}"
                for k in marks
            )
            least = min(sum(is_trained(t) for t in r.trials) for r in group)
            print(f"{name:<12}{cells}{least:>15}")


def print_search_time(
    runs: dict[str, list[StrategyRun]],
    baseline: str,
    bench: Benchmark | None = None,
    credit: Credit | None = None,
) -> None:
    """With `credit` (and its `bench`), every trained child's accuracy is its credited one."""
    print(
        f"\nSearch time: trainings to reach {baseline}'s best spec-meeting accuracy"
        + (" (identical networks at the same FPS credited)" if credit else "")
    )

    def trials(run: StrategyRun) -> tuple[TrialRecord, ...]:
        return credited(run.trials, bench, credit) if bench and credit else run.trials

    ratios = []
    for co, hw in zip(runs["coexplore"], runs[baseline], strict=True):
        hw_curve, co_curve = best_curve(trials(hw)), best_curve(trials(co))
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
    print_hypervolumes(runs, bench, args.budget)
    for baseline in HWNAS:
        if "coexplore" in runs and baseline in runs:
            print_search_time(runs, baseline)
            print_matched(runs, config, bench, baseline)
    credit = credits(bench)
    if credit:
        print_hypervolumes(runs, bench, args.budget, credit)
        for baseline in HWNAS:
            if "coexplore" in runs and baseline in runs:
                print_search_time(runs, baseline, bench, credit["fps"])
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    print_final_lines(runs, bench, credit)


if __name__ == "__main__":
    main()
