"""Children per hour on one executor against another: local (1 process), a pool of 2 worker
processes, and a local Ray cluster of 2 workers, all running the same seeded search with real
training on `digits`, in one run of this script.

Each executor is started and warmed first (workers spawned, torch and the dataset loaded), so
the numbers compare steady-state search throughput; start-up is printed on its own. Every
search is the same (same seed, so the same children): the trial lists are checked equal.

    .venv/bin/python bench/parallel_scaling.py                  # quick preset, 32 trials
    .venv/bin/python bench/parallel_scaling.py --trials 64 --epochs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from coexplore import wiring as run
from coexplore.config import Config, load_config, to_dict
from coexplore.executors import Executor, LocalExecutor, PoolExecutor
from coexplore.search.loop import run_search
from coexplore.slow.jobs import TrainJob, run_train_job
from coexplore.storage import RunStorage, TrialRecord, TrialState


@dataclasses.dataclass(frozen=True)
class Measure:
    name: str
    startup_seconds: float
    search_seconds: float
    trials: list[TrialRecord]

    @property
    def trained(self) -> int:
        return sum(t.state is not TrialState.PRUNED and t.attempts > 0 for t in self.trials)

    def per_hour(self, count: int) -> float:
        return count * 3600 / self.search_seconds


def ray_executor(workers: int) -> Executor:
    from coexplore.executors.ray_cluster import RayExecutor

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    return RayExecutor(workers=workers)


def measure(name: str, make: Callable[[], Executor], config: Config, folder: Path) -> Measure:
    started = time.perf_counter()
    executor = make()
    setup = run.build_setup(config)
    arch = setup.space.sample(np.random.default_rng(0))
    warm_job = TrainJob(setup.space.to_json(arch), setup.data, setup.seed, setup.train, 0)
    list(executor.imap(run_train_job, [warm_job] * 2))  # spawn, import torch, load digits
    startup = time.perf_counter() - started
    try:
        with RunStorage.create(folder / f"{name}.db", to_dict(config)) as storage:
            started = time.perf_counter()
            run_search(setup, storage, executor)
            seconds = time.perf_counter() - started
            trials = storage.trials()
    finally:
        executor.close()
    return Measure(name, startup, seconds, trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = load_config(
        args.preset,
        overrides={
            "run.trials": args.trials,
            "train.epochs": args.epochs,
            "train.threads": 1,
            "final.epochs": 0,
        },
    )
    executors: dict[str, Callable[[], Executor]] = {
        "local-1": LocalExecutor,
        f"local-{args.workers} (pool)": lambda: PoolExecutor(args.workers),
        f"ray-{args.workers}": lambda: ray_executor(args.workers),
    }
    folder = Path(tempfile.mkdtemp(prefix="scaling"))
    try:
        results = [
            measure(name.split()[0], make, config, folder) for name, make in executors.items()
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(results, config, args.preset, os.cpu_count() or 0)


def report(results: list[Measure], config: Config, preset: str, cpus: int) -> None:
    base = results[0]
    print(
        f"preset {preset}: {config.run.trials} trials, batch {config.run.batch}, "
        f"{config.train.epochs} epoch(s) on {config.data.dataset}; {cpus} CPUs; "
        f"{base.trained} children trained per search"
    )
    # Other work on the machine caps the speed-up: show how busy it was.
    print(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(
        f"{'executor':<10} {'start s':>8} {'search s':>9} {'trained/h':>10} {'trials/h':>10} "
        f"{'speed-up':>8}"
    )
    for m in results:
        print(
            f"{m.name:<10} {m.startup_seconds:8.1f} {m.search_seconds:9.1f} "
            f"{m.per_hour(m.trained):10,.0f} {m.per_hour(len(m.trials)):10,.0f} "
            f"{base.search_seconds / m.search_seconds:7.2f}x"
        )
    # Fast exploration runs in the driver between batches: the part no executor speeds up.
    fast_seconds = sum(t.timings.get("fast_seconds", 0.0) for t in base.trials)
    print(f"fast exploration in the driver (serial): {fast_seconds:.1f} s per search")
    same = all(_outcomes(m.trials) == _outcomes(base.trials) for m in results)
    print(f"same trials on every executor: {same}")


def _outcomes(trials: list[TrialRecord]) -> list[tuple[object, ...]]:
    return [(t.number, t.arch_key, t.state, t.accuracy, t.attempts) for t in trials]


if __name__ == "__main__":
    main()
