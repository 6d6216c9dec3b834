"""The one registry of executors: `executor.kind` -> how to build it from the [executor] section.

The config's choices for `executor.kind`, `make_executor`'s dispatch and the tests' list of
kinds all come from `EXECUTORS`; adding an executor is one entry here (plus its class, docs and
a fixture in tests/executors/conftest.py).

This module imports no executor at import time (each builder imports its class when called),
so the names are known without torch or ray.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coexplore.errors import InputError
from coexplore.registry import Registry

if TYPE_CHECKING:
    from coexplore.config import ExecutorConfig
    from coexplore.executors.base import Executor


@dataclass(frozen=True)
class ExecutorKind:
    """One registered executor: how to build it from the [executor] section, and one line."""

    build: Callable[[ExecutorConfig], Executor]
    summary: str  # one line for help texts
    stops_children: bool = True  # it can stop a child midway (executor.timeout_s)


def _local(section: ExecutorConfig) -> Executor:
    from coexplore.executors.base import LocalExecutor

    return LocalExecutor()


def _pool(section: ExecutorConfig) -> Executor:
    from coexplore.executors.pool import PoolExecutor

    return PoolExecutor(section.workers, section.retries, section.timeout_s)


def _ray(section: ExecutorConfig) -> Executor:
    try:
        from coexplore.executors.ray_cluster import RayExecutor
    except ImportError:  # ray is an extra
        raise InputError("executor.kind 'ray' needs Ray: pip install 'coexplore[ray]'") from None
    return RayExecutor(
        section.workers,
        section.address,
        section.retries,
        section.gpus_per_child,
        section.timeout_s,
    )


EXECUTORS: Registry[ExecutorKind] = Registry(
    "executor",
    {
        "local": ExecutorKind(
            _local, "one child after another, in the search process", stops_children=False
        ),
        "pool": ExecutorKind(_pool, "`workers` processes on this machine"),
        "ray": ExecutorKind(_ray, "Ray tasks on a cluster (its GPUs too); the ray extra"),
    },
)
