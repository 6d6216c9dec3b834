"""Jobs for executor tests: plain functions on numbers, and callables that die or report pids.

Worker processes import this module by name (pool workers get the test's sys.path, Ray workers
get PYTHONPATH from the cluster fixture), so everything here must be importable and picklable.
Each try of a job appends a line to a file in a folder, so a test can count tries across
processes, including tries whose process was killed. Nothing here imports torch at import
time: worker start-up stays fast.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKERS = 2  # of the shared pool and Ray cluster (conftest.py)
RETRIES = 2


def square(x: int) -> int:
    return x * x


def sleep_then_square(x: int) -> int:
    """Job i of n sleeps longer for smaller i, so later jobs finish first."""
    time.sleep(0.05 * (6 - x % 6))
    return x * x


def fail_on_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd job {x}\nsecond line")
    return x


def torch_threads(_: int) -> int:
    import torch

    return torch.get_num_threads()


@dataclass(frozen=True)
class Meet:
    """Job x announces itself, then waits (up to a generous bound) for every job of `names` to
    have announced itself too: True when they all met, i.e. ran at the same time. No clock or
    sleep length decides the answer, so a loaded machine cannot change it."""

    folder: str
    names: tuple[int, ...]
    patience_s: float = 120.0

    def __call__(self, x: int) -> tuple[int, bool]:
        (Path(self.folder) / f"{x}.here").write_text(str(os.getpid()))
        deadline = time.monotonic() + self.patience_s
        while time.monotonic() < deadline:
            if all((Path(self.folder) / f"{n}.here").exists() for n in self.names):
                return os.getpid(), True
            time.sleep(0.01)
        return os.getpid(), False


def busy_interval(seconds: float) -> tuple[int, float, float]:
    """(pid, start, end) of a job that sleeps: overlapping intervals mean parallel work."""
    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


def tries(folder: Path, name: object) -> list[int]:
    """Pids of every try of job `name` so far."""
    path = Path(folder) / f"{name}.tries"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _log_try(folder: str, name: object) -> int:
    with open(Path(folder) / f"{name}.tries", "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return len(tries(Path(folder), name))


@dataclass(frozen=True)
class DieTimes:
    """Job x kills its own worker process on its first `deaths` tries, then returns x."""

    folder: str
    deaths: int

    def __call__(self, x: int) -> int:
        if _log_try(self.folder, x) <= self.deaths:
            os.kill(os.getpid(), signal.SIGKILL)
        return x


@dataclass(frozen=True)
class ReportPid:
    """The fake trainer, after logging the worker's pid and sleeping (a window to kill it in)."""

    folder: str
    seconds: float

    def __call__(self, job: Any) -> Any:
        from fake_training import fake_train  # imports torch: only jobs that train pay for it

        _log_try(self.folder, job.seed)
        time.sleep(self.seconds)
        return fake_train(job)


@dataclass(frozen=True)
class KillSeed:
    """The fake trainer, except that the job with this seed kills its worker on every try."""

    folder: str
    seed: int

    def __call__(self, job: Any) -> Any:
        from fake_training import fake_train

        _log_try(self.folder, job.seed)
        if job.seed == self.seed:
            os.kill(os.getpid(), signal.SIGKILL)
        return fake_train(job)


@dataclass(frozen=True)
class Hang:
    """Logs its worker's pid, then hangs (sleeps far longer than any test waits): x < 0 only;
    other jobs return x * x at once."""

    folder: str

    def __call__(self, x: int) -> int:
        if x < 0:
            _log_try(self.folder, x)
            time.sleep(3600)
        return x * x
