"""The executor interface, the in-process executor, and what every executor shares.

Results come back in job order, so a seeded search gives the same trials on any executor. A job
that cannot finish comes back as a `JobFailure` value, never as an exception: one bad child must
not end a search.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class JobFailure:
    """A job that did not produce a result: why, and how many times it was tried."""

    reason: str
    attempts: int = 1


class Outcome(NamedTuple):
    """A job's result (or JobFailure) and the number of tries it took (retries after a worker
    died included), so the stored trial can say how often it was trained."""

    result: Any
    attempts: int


class Executor(ABC):
    """Runs jobs, maybe in parallel; subclasses say how in `imap_attempts`."""

    name: str = ""

    @abstractmethod
    def imap_attempts(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Outcome]:
        """Yield an Outcome of fn(job) for each job, in job order, as each becomes available."""

    def imap(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        """Yield fn(job) (or a JobFailure) for each job, in order, as each becomes available."""
        for outcome in self.imap_attempts(fn, jobs):
            yield outcome.result

    def close(self) -> None:  # noqa: B027 - optional hook: executors without workers need none
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """Runs jobs one after another in this process."""

    name = "local"

    def imap_attempts(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Outcome]:
        for job in jobs:
            yield Outcome(call_safely(fn, job), 1)


def call_safely(fn: Callable[[Any], Any], job: Any) -> Any:
    """fn(job), with an unexpected exception turned into a JobFailure naming it."""
    try:
        return fn(job)
    except Exception as exc:  # a bug in one child must not end the search; the reason is kept
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        text = " ".join(str(exc).split())  # reasons are stored and shown on one line
        return JobFailure(f"{type(exc).__name__}: {text} (at {where})")


def one_torch_thread() -> None:
    """Give this worker process one torch thread: N workers on N cores, not N x N threads."""
    # torch reads this when first imported; not importing it here keeps worker start-up fast
    # for jobs that never train.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@contextlib.contextmanager
def signals_end_the_run() -> Iterator[None]:
    """While this holds, SIGTERM and SIGHUP raise SystemExit in the main thread (Ctrl-C already
    raises KeyboardInterrupt), so `finally` blocks run: the executor stops its workers, the
    storage closes. Elsewhere than the main thread Python cannot take signals: a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def end(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    saved = {s: signal.signal(s, end) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """End this worker process when `parent_pid` (the search that started it) dies, even when
    it is busy training: a killed search (kill -9, or SIGTERM outside the main loop) must not
    leave workers behind. Linux: the kernel sends SIGKILL; elsewhere a thread watches."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # it died before we asked to be told
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)
