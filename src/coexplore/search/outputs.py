"""What a run leaves behind when its search ends: the picks retrained with the final schedule
and scored on the test split, then picks.json, trials.csv and pareto.png (coexplore.results).

The final test results are kept in run.db too (meta `final_tests`), so the outputs of a finished
run can be written again (one was deleted) without training its picks again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coexplore.config import Config
from coexplore.executors import Executor, JobFailure
from coexplore.results.picks import Picks, pick
from coexplore.results.plots import save_pareto
from coexplore.results.writers import fidelity_summary, noise_summary, run_summary, write_csv
from coexplore.search.loop import SearchSetup
from coexplore.slow.jobs import TrainJob, run_train_job
from coexplore.storage import RunStorage

FinalJob = Callable[[dict[str, Any], int, str], TrainJob] | None  # (arch, seed, precision)
OUTPUTS = ("picks.json", "trials.csv", "pareto.png")
"""The files `write_outputs` writes into the run folder (beside run.db and config.toml)."""
FINAL_TESTS = "final_tests"
"""The run.db meta key of the final test results: {"tests": {trial: accuracy at its precision
or reason}, "float_tests": {trial: float accuracy}, "test_images": n}."""


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
    tests, float_tests, test_images = _final_test(picks, executor, final_job, storage)
    summary = run_summary(trials, picks, tests, config, float_tests)
    summary["accuracy_noise"] = noise_summary(picks, tests, test_images, config)
    summary["fidelity"] = fidelity_summary(trials, setup.fidelity.rungs)
    (run_dir / "picks.json").write_text(json.dumps(summary, indent=2))
    write_csv(run_dir / "trials.csv", trials)
    save_pareto(run_dir / "pareto.png", trials, picks, config.spec.fps)
    return summary


def _final_test(
    picks: Picks, executor: Executor, final_job: FinalJob, storage: RunStorage
) -> tuple[dict[int, float | str], dict[int, float], int]:
    """Retrain OptSW and OptHW with the final schedule: by trial, the test accuracy at its
    precision (or why the retraining failed) and the float one; the number of test images
    (0: not known). Results stored for these picks already are taken as they are; new ones
    are stored."""
    chosen = {t.number: t for t in (picks.opt_sw, picks.opt_hw) if t is not None}
    float_tests: dict[int, float] = {}
    if final_job is None or not chosen:
        return {}, float_tests, 0
    stored = _stored_tests(storage)
    if stored is not None and set(chosen) <= set(stored[0]):
        tests, floats, images = stored
        return {n: tests[n] for n in chosen}, {n: floats[n] for n in chosen if n in floats}, images
    jobs = [final_job(t.arch, t.seed, t.precision) for t in chosen.values()]
    out: dict[int, float | str] = {}
    images = 0
    for number, result in zip(chosen, executor.imap(run_train_job, jobs), strict=True):
        if isinstance(result, JobFailure) or result.test_accuracy is None:
            out[number] = getattr(result, "reason", "") or result.train.reason
        else:
            out[number] = result.test_accuracy  # at the pick's precision
            float_tests[number] = result.float_test_accuracy or result.test_accuracy
            images = result.test_images
    kept = {
        "tests": {str(n): v for n, v in out.items()},
        "float_tests": {str(n): v for n, v in float_tests.items()},
        "test_images": images,
    }
    storage.set_meta(FINAL_TESTS, json.dumps(kept))
    return out, float_tests, images


def _stored_tests(
    storage: RunStorage,
) -> tuple[dict[int, float | str], dict[int, float], int] | None:
    """The final test results run.db keeps, or None (none stored, or not readable)."""
    text = storage.get_meta(FINAL_TESTS)
    try:
        kept = json.loads(text or "null")
        tests = {int(n): v for n, v in kept["tests"].items() if isinstance(v, float | str)}
        floats = {int(n): v for n, v in kept.get("float_tests", {}).items() if isinstance(v, float)}
        return tests, floats, int(kept["test_images"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
