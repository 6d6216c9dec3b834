"""What a run folder holds besides its database: picks.json (the summary, OptSW and OptHW, the
accuracy noise, the multi-fidelity rungs) and trials.csv (one row per trial)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coexplore.config import Config
from coexplore.results.failures import failure_counts, prune_counts
from coexplore.results.noise import Comparison, difference_noise, interval
from coexplore.results.picks import Picks
from coexplore.storage import TrialRecord, TrialState


def noise_summary(
    picks: Picks, tests: dict[int, float | str], test_images: int, config: Config
) -> dict[str, Any]:
    """How many images the accuracies rest on, and whether OptSW and OptHW differ beyond the
    binomial noise on validation and on test (`notes`: the same in sentences)."""
    sw, hw = picks.opt_sw, picks.opt_hw
    val_images = sw.val_images if sw is not None else 0
    out: dict[str, Any] = {"val_images": val_images, "test_images": test_images, "notes": []}
    if sw is None or hw is None or not val_images:
        return out
    sw_accuracy, hw_accuracy = _accuracy(sw), _accuracy(hw)
    notes = [
        f"validation accuracy rests on {val_images:,} images: OptSW "
        f"{_interval_text(sw_accuracy, val_images)}"
    ]
    gap_noise = difference_noise(sw_accuracy, val_images, sw_accuracy, val_images)
    if config.picks.accuracy_gap < gap_noise:
        notes.append(
            f"picks.accuracy_gap {config.picks.accuracy_gap:g} is below the noise of a "
            f"difference (+-{gap_noise:.3f}): OptHW may be no worse than OptSW"
        )
    comparisons = [Comparison("validation", val_images, sw_accuracy, hw_accuracy)]
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


def fidelity_summary(trials: list[TrialRecord], rungs: Sequence[int]) -> dict[str, Any]:
    """The rungs and how many trained children stopped at each (epochs -> children)."""
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    stopped = Counter(t.epochs for t in trained)
    return {
        "rungs": list(rungs),
        "children_by_epochs": dict(sorted(stopped.items())),
    }


def _interval_text(accuracy: float, images: int) -> str:
    low, high = interval(accuracy, images)
    return f"{accuracy:.3f} (95 % interval {low:.3f}-{high:.3f})"


def run_summary(
    trials: list[TrialRecord],
    picks: Picks,
    tests: dict[int, float | str],
    config: Config,
    float_tests: dict[int, float] | None = None,
) -> dict[str, Any]:
    """picks.json's figures: the trials by state, training time, failures, OptSW and OptHW."""
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
        "precisions": list(config.hardware.precisions),
        "opt_sw": pick_json(picks.opt_sw, tests, float_tests),
        "opt_hw": pick_json(picks.opt_hw, tests, float_tests),
        "nothing_found": nothing_found(trials, picks) or None,
    }


RELAX = (
    "relax the spec (spec.fps, spec.latency_ms, spec.max_fpgas) or give a larger hardware.pool "
    "(`coexplore estimate` shows one child's best design)"
)


def nothing_found(trials: list[TrialRecord], picks: Picks) -> str:
    """Why the run has no pick, in one sentence with what to change ("" when it has one): what
    became of its children, each fate with its most frequent cause."""
    if picks.opt_sw is not None:
        return ""
    fates, to_do = [], []
    if pruned := prune_counts(trials):
        fates.append(_fate("pruned before training", pruned))
    missed = sum(t.state is TrialState.COMPLETE for t in trials)
    if missed:
        fates.append(f"{missed} trained but miss the spec")
    if pruned or missed:
        to_do.append(RELAX)
    if failed := failure_counts(trials):
        fates.append(_fate("failed in training", failed))
        to_do.append("mend what failed the trainings, then `coexplore resume` the run")
    fates_text = "; ".join(fates) or "none was stored"
    advice = " or ".join(to_do)
    advice = f" To find one: {advice}." if advice else ""
    return f"no trained child meets the spec: of {len(trials)} children, {fates_text}.{advice}"


def _fate(what: str, counts: list[tuple[str, int]]) -> str:
    """'16 pruned before training: 2391.2 FPS < spec 1e+12 FPS (and 15 like it)', or with
    several causes '16 pruned before training, 10 of them: ...' (the most frequent)."""
    total = sum(n for _, n in counts)
    reason, n = counts[0]
    return f"{total} {what}: {reason}" if n == total else f"{total} {what}, {n} of them: {reason}"


def pick_json(
    t: TrialRecord | None,
    tests: dict[int, float | str],
    float_tests: dict[int, float] | None = None,
) -> dict[str, Any] | None:
    """A pick as picks.json shows it: its trial, architecture, design, precision, metrics
    (validation accuracy at its precision and float), test result (at its precision and
    float)."""
    if t is None:
        return None
    test = tests.get(t.number)
    images = t.val_images
    return {
        "trial": t.number,
        "precision": t.precision,
        "accuracy": t.accuracy,
        "float_accuracy": t.float_accuracy,
        "val_interval_95": interval(_accuracy(t), images) if images else None,
        "arch": t.arch,
        "hardware": t.hardware,
        "metrics": {k: whole(k, v) for k, v in t.flat_metrics().items()},
        "test_accuracy": test if isinstance(test, float) else None,
        "float_test_accuracy": (float_tests or {}).get(t.number),
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
                "precision",
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
                    t.precision,
                    t.reward,
                    t.reason,
                    t.seed,
                    t.attempts,
                    t.reused_from,
                    *(whole(k, t_metrics.get(k, "")) for k in metric_keys),
                    *(whole(k, t_timings.get(k, "")) for k in timing_keys),
                ]
            )


def _accuracy(trial: TrialRecord) -> float:
    assert trial.accuracy is not None  # a pick is trained
    return trial.accuracy
