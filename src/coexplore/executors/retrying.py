"""What the pool and Ray executors share: up to N jobs at once in other processes, each job
whose worker died tried again up to `retries` times, results handed out in job order.

A backend says how to start a job (`_submit`), wait for some (`_wait`) and drop unfinished ones
(`_abandon`); the bookkeeping of tries lives here once, so both count attempts the same way.
"""

from __future__ import annotations

import dataclasses
import math
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from coexplore.errors import InputError
from coexplore.executors.base import Executor, JobFailure, Outcome


@dataclass(frozen=True)
class Died:
    """The worker running a job died (killed, crashed, its node lost): the job may be retried."""

    reason: str


class _Batch:
    """One imap call: jobs waiting to start, tries so far, finished outcomes by job index."""

    def __init__(self, size: int, retries: int) -> None:
        self.waiting = deque(range(size))
        self.tries = [0] * size
        self.done: dict[int, Outcome] = {}
        self.retries = retries

    def start_next(self) -> int:
        index = self.waiting.popleft()
        self.tries[index] += 1
        return index

    def finish(self, index: int, result: Any) -> None:
        tries = self.tries[index]
        if isinstance(result, Died) and tries <= self.retries:
            self.waiting.appendleft(index)  # first in line: the results wait on it in order
        elif isinstance(result, Died):
            self.done[index] = Outcome(JobFailure(result.reason, tries), tries)
        elif isinstance(result, JobFailure):
            self.done[index] = Outcome(dataclasses.replace(result, attempts=tries), tries)
        else:
            self.done[index] = Outcome(result, tries)


H = TypeVar("H", bound=Hashable)  # a backend's handle on one running job


class RetryingExecutor(Executor, Generic[H]):
    """Runs up to `workers` jobs at once; a job whose worker died is tried again; a job still
    running `timeout_s` seconds after it started (0: no limit) is stopped and FAILED, not
    retried: a hung child would hang again."""

    def __init__(self, workers: int, retries: int, timeout_s: float = 0.0) -> None:
        if workers < 1 or retries < 0 or timeout_s < 0:
            raise InputError(
                "workers must be >= 1, retries >= 0 and timeout_s >= 0, "
                f"got {workers}, {retries}, {timeout_s}"
            )
        self.workers, self.retries, self.timeout_s = workers, retries, timeout_s

    def imap_attempts(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Outcome]:
        batch = _Batch(len(jobs), self.retries)
        running: dict[H, int] = {}  # backend handle -> job index
        deadlines: dict[H, float] = {}  # backend handle -> time.monotonic() it must end by
        try:
            for index in range(len(jobs)):
                while index not in batch.done:
                    while batch.waiting and len(running) < self.workers:
                        started = batch.start_next()
                        handle = self._submit(fn, jobs[started])
                        running[handle] = started
                        deadlines[handle] = time.monotonic() + (self.timeout_s or math.inf)
                    for handle, result in self._wait(list(running), _time_left(deadlines)):
                        del deadlines[handle]
                        batch.finish(running.pop(handle), result)
                    self._stop_overdue(batch, running, deadlines)
                yield batch.done.pop(index)
        finally:
            if running:  # the caller stopped early or failed: nobody will collect these
                self._abandon(list(running))

    def _stop_overdue(
        self, batch: _Batch, running: dict[H, int], deadlines: dict[H, float]
    ) -> None:
        """Stop the jobs past their deadline; each is FAILED, not retried (it would hang again)."""
        now = time.monotonic()
        for handle in [h for h, deadline in deadlines.items() if deadline <= now]:
            self._abandon([handle])
            del deadlines[handle]
            batch.finish(running.pop(handle), JobFailure(f"timed out after {self.timeout_s:g} s"))

    @abstractmethod
    def _submit(self, fn: Callable[[Any], Any], job: Any) -> H:
        """Start fn(job) on a worker; a handle to wait on."""

    @abstractmethod
    def _wait(self, handles: list[H], timeout_s: float | None) -> list[tuple[H, Any]]:
        """Block until at least one job ends, or `timeout_s` passed (None: no limit):
        (handle, result, JobFailure or Died) for each job that ended."""

    @abstractmethod
    def _abandon(self, handles: list[H]) -> None:
        """Stop these unfinished jobs; their results are not wanted."""


def _time_left(deadlines: dict[Any, float]) -> float | None:
    """Seconds until the first deadline (None when no job has one)."""
    first = min(deadlines.values(), default=math.inf)
    return None if first == math.inf else max(0.0, first - time.monotonic())
