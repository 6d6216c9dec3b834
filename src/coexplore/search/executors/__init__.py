"""Executors run child-training jobs: in this process, in a local worker pool, or on Ray.

Every executor yields results in job order, so a seeded search gives the same trials on any of
them; a job that cannot finish comes back as a `JobFailure` (docs/executors.md).
"""

from __future__ import annotations

from typing import Any

from coexplore.errors import InputError
from coexplore.search.executors.base import (
    Executor,
    JobFailure,
    LocalExecutor,
    Outcome,
    call_safely,
    signals_end_the_run,
)
from coexplore.search.executors.pool import PoolExecutor

__all__ = [
    "Executor",
    "JobFailure",
    "LocalExecutor",
    "Outcome",
    "PoolExecutor",
    "call_safely",
    "make_executor",
    "signals_end_the_run",
]


def make_executor(config: Any) -> Executor:
    """The executor a run's [executor] section asks for."""
    section = config.executor
    if section.kind == "local":
        return LocalExecutor()
    if section.kind == "pool":
        return PoolExecutor(section.workers, section.retries, section.timeout_s)
    if section.kind == "ray":
        try:
            from coexplore.search.executors.ray_cluster import RayExecutor
        except ImportError:  # ray is an extra
            raise InputError(
                "executor.kind 'ray' needs Ray: pip install 'coexplore[ray]'"
            ) from None
        return RayExecutor(
            section.workers,
            section.address,
            section.retries,
            section.gpus_per_child,
            section.timeout_s,
        )
    raise InputError(f"executor.kind {section.kind!r} is not one of local, pool, ray")
