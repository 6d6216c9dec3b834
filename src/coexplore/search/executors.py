"""Executors run child-training jobs. Results come back in job order, so a seeded search gives
the same trials on any executor. A job that cannot finish comes back as a `JobFailure`."""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobFailure:
    reason: str
    attempts: int = 1


class Executor(ABC):
    name: str = ""

    @abstractmethod
    def imap(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        """Yield fn(job) (or a JobFailure) for each job, in order, as each becomes available."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """Runs jobs one after another in this process."""

    name = "local"

    def imap(self, fn: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        for job in jobs:
            yield call_safely(fn, job)


def call_safely(fn: Callable[[Any], Any], job: Any) -> Any:
    """fn(job), with an unexpected exception turned into a JobFailure naming it."""
    try:
        return fn(job)
    except Exception as exc:  # a bug in one child must not end the search; the reason is kept
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        return JobFailure(f"{type(exc).__name__}: {exc} (at {where})")


def make_executor(config: Any) -> Executor:
    """The executor a run's [executor] section asks for."""
    if config.executor.kind == "local":
        return LocalExecutor()
    raise ValueError(f"executor.kind {config.executor.kind!r} is not available yet")
