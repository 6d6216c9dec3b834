"""What a run shows and leaves behind: the progress bar, picks.json, pareto.png, trials.csv."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from coexplore.config import Config
from coexplore.search.executors import Executor, JobFailure
from coexplore.search.failures import failure_counts
from coexplore.search.fidelity import epochs_of, full_fidelity
from coexplore.search.jobs import TrainJob, run_train_job
from coexplore.search.loop import SearchSetup
from coexplore.search.noise import Comparison, difference_noise, interval
from coexplore.search.picks import Picks, feasible_trials, pareto_front, pick
from coexplore.storage import RunStorage, TrialRecord, TrialState


class ProgressBar:
    """Trials done, pruned, trained, and the best OptSW / OptHW so far, on three short lines so
    that an 80-column terminal shows all of it (one long line gets cut to `s... pruned 1 ...`)."""

    def __init__(
        self, total: int, config: Config, trials: list[TrialRecord], enabled: bool
    ) -> None:
        self.config, self.trials = config, list(trials)
        self.progress = _Lines(
            TextColumn("[bold]search"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not enabled,
        )
        self.task = self.progress.add_task(self._text(), total=total, completed=len(self.trials))

    def __enter__(self) -> ProgressBar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, records: list[TrialRecord]) -> None:
        known = {t.number for t in self.trials}
        self.trials += [r for r in records if r.number not in known]
        self.progress.update(self.task, completed=len(self.trials), description=self._text())

    def _text(self) -> str:
        counts = {s: sum(t.state is s for t in self.trials) for s in TrialState}
        picks = pick(self.trials, self.config.reward.metric, self.config.picks.accuracy_gap)
        return (
            f"  pruned {counts[TrialState.PRUNED]}, trained {counts[TrialState.COMPLETE]}, "
            f"failed {counts[TrialState.FAILED]}\n"
            f"  OptSW {_short(picks.opt_sw)} | OptHW {_short(picks.opt_hw)}"
        )


class _Lines(Progress):
    """A progress display whose task description goes on its own lines below the bar."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            yield Text(task.description, no_wrap=True, overflow="ellipsis")


def _short(t: TrialRecord | None) -> str:
    if t is None:
        return "-"
    return f"{t.metrics['accuracy']:.3f} @ {t.metrics['fps']:,.0f} FPS"


FinalJob = Callable[[dict[str, Any], int], TrainJob] | None


def write_outputs(
    run_dir: Path,
    storage: RunStorage,
    config: Config,
    setup: SearchSetup,
    executor: Executor,
    final_job: FinalJob,
) -> dict[str, Any]:
    trials = storage.trials()
    picks = pick(trials, config.reward.metric, config.picks.accuracy_gap)
    tests, test_images = _final_test(picks, executor, final_job)
    summary = _summary(trials, picks, tests, config)
    summary["accuracy_noise"] = noise_summary(picks, tests, test_images, config)
    summary["fidelity"] = fidelity_summary(trials, setup)
    (run_dir / "picks.json").write_text(json.dumps(summary, indent=2))
    write_csv(run_dir / "trials.csv", trials)
    plot_pareto(run_dir / "pareto.png", trials, picks, config.spec.fps)
    return summary


def _final_test(
    picks: Picks, executor: Executor, final_job: FinalJob
) -> tuple[dict[int, float | str], int]:
    """Retrain OptSW and OptHW with the final schedule: test accuracy (or why it failed) by
    trial, and the number of test images (0: not known)."""
    chosen = {t.number: t for t in (picks.opt_sw, picks.opt_hw) if t is not None}
    if final_job is None or not chosen:
        return {}, 0
    jobs = [final_job(t.arch, t.seed) for t in chosen.values()]
    out: dict[int, float | str] = {}
    images = 0
    for number, result in zip(chosen, executor.imap(run_train_job, jobs), strict=True):
        if isinstance(result, JobFailure) or result.test_accuracy is None:
            out[number] = getattr(result, "reason", "") or result.train.reason
        else:
            out[number] = result.test_accuracy
            images = result.test_images
    return out, images


def noise_summary(
    picks: Picks, tests: dict[int, float | str], test_images: int, config: Config
) -> dict[str, Any]:
    """How many images the accuracies rest on, and whether OptSW and OptHW differ beyond the
    binomial noise on validation and on test (`notes`: the same in sentences)."""
    sw, hw = picks.opt_sw, picks.opt_hw
    val_images = int(sw.metrics.get("val_images", 0)) if sw is not None else 0
    out: dict[str, Any] = {"val_images": val_images, "test_images": test_images, "notes": []}
    if sw is None or hw is None or not val_images:
        return out
    notes = [
        f"validation accuracy rests on {val_images:,} images: OptSW "
        f"{_interval_text(sw.metrics['accuracy'], val_images)}"
    ]
    gap_noise = difference_noise(
        sw.metrics["accuracy"], val_images, sw.metrics["accuracy"], val_images
    )
    if config.picks.accuracy_gap < gap_noise:
        notes.append(
            f"picks.accuracy_gap {config.picks.accuracy_gap:g} is below the noise of a "
            f"difference (+-{gap_noise:.3f}): OptHW may be no worse than OptSW"
        )
    comparisons = [
        Comparison("validation", val_images, sw.metrics["accuracy"], hw.metrics["accuracy"])
    ]
    sw_test, hw_test = tests.get(sw.number), tests.get(hw.number)
    if isinstance(sw_test, float) and isinstance(hw_test, float) and test_images:
        comparisons.append(Comparison("test", test_images, sw_test, hw_test))
    if sw.number == hw.number:
        notes.append("OptSW and OptHW are the same child")
    else:
        notes += [c.sentence("OptSW", "OptHW") for c in comparisons]
    out["comparisons"] = [c.as_json() for c in comparisons]
    out["notes"] = notes
    return out


def fidelity_summary(trials: list[TrialRecord], setup: SearchSetup) -> dict[str, Any]:
    """The rungs and how many trained children stopped at each (epochs -> children)."""
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    stopped = Counter(epochs_of(t) for t in trained)
    return {
        "rungs": list(setup.fidelity.rungs),
        "children_by_epochs": dict(sorted(stopped.items())),
    }


def _interval_text(accuracy: float, images: int) -> str:
    low, high = interval(accuracy, images)
    return f"{accuracy:.3f} (95 % interval {low:.3f}-{high:.3f})"


def _summary(
    trials: list[TrialRecord], picks: Picks, tests: dict[int, float | str], config: Config
) -> dict[str, Any]:
    counts = {s.value: sum(t.state is s for t in trials) for s in TrialState}
    train_seconds = sum(t.timings.get("train_seconds", 0.0) for t in trials)
    return {
        "trials": len(trials),
        "counts": counts,
        "pruned_fraction": counts["pruned"] / max(1, len(trials)),
        "trained": sum(t.state is TrialState.COMPLETE and t.attempts > 0 for t in trials),
        "training_hours": train_seconds / 3600,
        "spec_fps": config.spec.fps,
        "failures": [{"reason": r, "count": n} for r, n in failure_counts(trials)],
        "opt_sw": _pick_json(picks.opt_sw, tests),
        "opt_hw": _pick_json(picks.opt_hw, tests),
    }


def _pick_json(t: TrialRecord | None, tests: dict[int, float | str]) -> dict[str, Any] | None:
    if t is None:
        return None
    test = tests.get(t.number)
    images = int(t.metrics.get("val_images", 0))
    return {
        "trial": t.number,
        "val_interval_95": interval(t.metrics["accuracy"], images) if images else None,
        "arch": t.arch,
        "hardware": t.hardware,
        "metrics": {k: whole(k, v) for k, v in t.flat_metrics().items()},
        "test_accuracy": test if isinstance(test, float) else None,
        "final_training_failed": test if isinstance(test, str) else None,
    }


# Metrics and timings that count things (floats in the metrics and timings dicts, one type per
# dict; `meets_spec` and `hw_tries` as the outputs show them), written as the whole numbers they
# are ("2" FPGAs, not "2.0").
COUNTS = frozenset({"fpgas", "epochs", "meets_spec", "hw_tries"})


def whole(key: str, value: Any) -> Any:
    """`value` as an int when `key` counts things and the value is whole."""
    if key in COUNTS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_csv(path: Path, trials: list[TrialRecord]) -> None:
    metrics = [t.flat_metrics() for t in trials]
    timings = [t.flat_timings() for t in trials]
    metric_keys = sorted({k for m in metrics for k in m})
    timing_keys = sorted({k for m in timings for k in m})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "number",
                "batch",
                "slot",
                "strategy",
                "state",
                "arch_key",
                "reward",
                "reason",
                "seed",
                "attempts",
                "reused_from",
                *metric_keys,
                *timing_keys,
            ]
        )
        for t, t_metrics, t_timings in zip(trials, metrics, timings, strict=True):
            writer.writerow(
                [
                    t.number,
                    t.batch,
                    t.slot,
                    t.strategy,
                    t.state.value,
                    t.arch_key,
                    t.reward,
                    t.reason,
                    t.seed,
                    t.attempts,
                    t.reused_from,
                    *(whole(k, t_metrics.get(k, "")) for k in metric_keys),
                    *(whole(k, t_timings.get(k, "")) for k in timing_keys),
                ]
            )


def plot_pareto(path: Path, trials: list[TrialRecord], picks: Picks, spec_fps: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meets = feasible_trials(trials)
    feasible = full_fidelity(meets)  # compared with each other; the rest trained less
    early = [t for t in meets if t not in feasible]
    others = [
        t
        for t in trials
        if t.state is TrialState.COMPLETE and t not in meets and "fps" in t.metrics
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, label in (
        (axes[0], "fps", "throughput (FPS)"),
        (axes[1], "gops_per_w", "energy efficiency (GOPS/W)"),
    ):
        if others:
            ax.scatter(
                [t.metrics[metric] for t in others],
                [t.metrics["accuracy"] for t in others],
                s=12,
                c="0.7",
                label="misses spec",
            )
        if early:
            ax.scatter(
                [t.metrics[metric] for t in early],
                [t.metrics["accuracy"] for t in early],
                s=12,
                c="lightsteelblue",
                label="stopped at an early rung",
            )
        points = [(t.metrics[metric], t.metrics["accuracy"]) for t in feasible]
        if points:
            ax.scatter(*zip(*points, strict=True), s=14, c="tab:blue", label="meets spec")
            front = [points[i] for i in pareto_front(points)]
            ax.step(*zip(*front, strict=True), where="pre", c="tab:blue", lw=1)  # best acc. at >= x
        for t, marker, size, name in (
            (picks.opt_hw, "D", 130, "OptHW"),
            (picks.opt_sw, "*", 90, "OptSW"),
        ):
            if t is not None:  # OptSW drawn last: it stays visible when both picks coincide
                colour = "tab:red" if name == "OptSW" else "tab:orange"
                ax.scatter(
                    [t.metrics[metric]],
                    [t.metrics["accuracy"]],
                    marker=marker,
                    s=size,
                    c=colour,
                    label=name,
                    zorder=3,
                )
        if metric == "fps" and spec_fps:
            ax.axvline(spec_fps, ls="--", c="tab:red", lw=1, label="spec")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{len(trials)} trials: accuracy vs hardware efficiency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
