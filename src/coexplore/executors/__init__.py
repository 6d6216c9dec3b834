"""Executors run child-training jobs: in this process, in a local worker pool, or on Ray.

Every executor yields results in job order, so a seeded search gives the same trials on any of
them; a job that cannot finish comes back as a `JobFailure` (docs/executors.md).
"""

from __future__ import annotations

from typing import Any

from coexplore.executors.base import (
    Executor,
    JobFailure,
    LocalExecutor,
    Outcome,
    call_safely,
    signals_end_the_run,
)
from coexplore.executors.kinds import EXECUTORS, ExecutorKind
from coexplore.executors.pool import PoolExecutor

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorKind",
    "JobFailure",
    "LocalExecutor",
    "Outcome",
    "PoolExecutor",
    "call_safely",
    "make_executor",
    "signals_end_the_run",
]


def make_executor(config: Any) -> Executor:
    """The executor a run's [executor] section asks for, from the one registry of executors
    (`kinds.EXECUTORS`; an unknown kind is an `UnknownName` listing the valid ones)."""
    return EXECUTORS[config.executor.kind].build(config.executor)
