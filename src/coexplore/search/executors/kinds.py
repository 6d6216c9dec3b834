"""The one registry of executors: `executor.kind` -> how to build it from the [executor] section.

The config's choices for `executor.kind`, `make_executor`'s dispatch and the tests' list of
kinds all come from `EXECUTORS`; adding an executor is one entry here (plus its class, docs and
a fixture in tests/executors/conftest.py).

The config imports this module for the names, and the config must load without torch or ray:
so this module imports no executor at import time; each builder imports its class when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coexplore.errors import InputError
from coexplore.spaces.base import Registry

if TYPE_CHECKING:
    from coexplore.config import ExecutorConfig
    from coexplore.search.executors.base import Executor


@dataclass(frozen=True)
class ExecutorKind:
    """One registered executor: how to build it from the [executor] section, and one line."""

    build: Callable[[ExecutorConfig], Executor]
    summary: str  # one line for help texts


def _local(section: ExecutorConfig) -> Executor:
    from coexplore.search.executors.base import LocalExecutor

    return LocalExecutor()


def _pool(section: ExecutorConfig) -> Executor:
    from coexplore.search.executors.pool import PoolExecutor

    return PoolExecutor(section.workers, section.retries, section.timeout_s)


def _ray(section: ExecutorConfig) -> Executor:
    try:
        from coexplore.search.executors.ray_cluster import RayExecutor
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
        "local": ExecutorKind(_local, "one child after another, in the search process"),
        "pool": ExecutorKind(_pool, "`workers` processes on this machine"),
        "ray": ExecutorKind(_ray, "Ray tasks on a cluster (its GPUs too); the ray extra"),
    },
)
