"""A Ray executor: children train as Ray tasks on a cluster's workers (and GPUs, if it has any).

With no address it starts a local cluster of `workers` CPUs, shut down again by `close`; with an
address it joins that cluster (whose nodes must have coexplore installed). A task whose worker
process or node dies comes back from Ray as an error: it is retried here, not by Ray
(`max_retries=0`), so the stored attempts count every try.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from coexplore.errors import InputError
from coexplore.executors.base import JobFailure, call_safely, one_torch_thread
from coexplore.executors.retrying import Died, RetryingExecutor


def _run_task(fn: Callable[[Any], Any], job: Any) -> Any:
    one_torch_thread()  # Ray reuses worker processes; set it for every task, it is cheap
    return call_safely(fn, job)


class RayExecutor(RetryingExecutor[Any]):  # handles: Ray ObjectRefs
    """Up to `workers` children at once as Ray tasks, one CPU each and one GPU each when the
    cluster has GPUs (or `gpus_per_child` when that is set)."""

    name = "ray"

    def __init__(
        self,
        workers: int = 2,
        address: str = "",
        retries: int = 2,
        gpus_per_child: float = 0.0,
        timeout_s: float = 0.0,
    ) -> None:
        super().__init__(workers, retries, timeout_s)
        import ray

        self._started = not ray.is_initialized()
        if self._started:
            _init(ray, workers, address)
        self.gpus_per_child = gpus_per_child or _one_gpu_if_any(ray)
        self._task = ray.remote(_run_task).options(
            num_cpus=1, num_gpus=self.gpus_per_child, max_retries=0
        )

    def close(self) -> None:
        import ray

        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False

    def _submit(self, fn: Callable[[Any], Any], job: Any) -> Any:
        return self._task.remote(fn, job)

    def _wait(self, handles: list[Any], timeout_s: float | None) -> list[tuple[Any, Any]]:
        import ray

        ready, _ = ray.wait(handles, num_returns=1, timeout=timeout_s)
        return [(ref, _result(ray, ref)) for ref in ready]

    def _abandon(self, handles: list[Any]) -> None:
        import ray

        for ref in handles:
            ray.cancel(ref, force=True)


def _init(ray: Any, workers: int, address: str) -> None:
    # Quiet: the progress bar is the user's view; failures come back as trial reasons.
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **options)
    except Exception as exc:  # bad address, cluster down: a clear line, not Ray's traceback
        where = f"the Ray cluster at {address!r}" if address else "a local Ray cluster"
        raise InputError(f"executor: cannot start or join {where}: {_one_line(exc)}") from exc


def _one_gpu_if_any(ray: Any) -> float:
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def _result(ray: Any, ref: Any) -> Any:
    """The task's value; Died when its worker or node was lost, a failure for anything else."""
    from ray.exceptions import RayError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:  # raised inside the task past call_safely: not worth retrying
        return JobFailure(_one_line(exc))
    except RayError as exc:  # worker crashed or killed, node died, object lost, out of memory
        return Died(_one_line(exc))


def _one_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"
