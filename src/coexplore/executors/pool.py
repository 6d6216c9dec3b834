"""A pool of worker processes on this machine, one torch thread each.

Our own small pool rather than `concurrent.futures.ProcessPoolExecutor`: when one of its
workers dies, that pool breaks and fails every job in flight, so it cannot tell which job was
hit. Here each worker holds one job at a time, so a death is charged to exactly that job.

Workers are started with `spawn` (a fork of a process that has used torch threads can hang)
and kept between batches, so each loads its dataset once.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from coexplore.executors.base import (
    JobFailure,
    call_safely,
    die_with_parent,
    one_torch_thread,
)
from coexplore.executors.retrying import Died, RetryingExecutor

_STOP_SECONDS = 5.0


class _Worker:
    """One worker process and the driver's end of its pipe."""

    def __init__(self, context: multiprocessing.context.SpawnContext) -> None:
        self.conn, child_end = context.Pipe()
        self.process: SpawnProcess = context.Process(
            target=_serve, args=(child_end, os.getpid()), name="coexplore-worker", daemon=True
        )
        self.process.start()
        child_end.close()  # only the worker holds it now, so its death reads as EOF here

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except OSError:  # already gone
                kill = True
            self.process.join(_STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class PoolExecutor(RetryingExecutor[_Worker]):
    """`workers` processes on this machine; a job whose worker died is retried `retries` times."""

    name = "pool"

    def __init__(self, workers: int = 2, retries: int = 2, timeout_s: float = 0.0) -> None:
        super().__init__(workers, retries, timeout_s)
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()  # holding a job: stopped by killing if we close now

    def pids(self) -> list[int]:
        """Process ids of the idle workers (tests and tools use them)."""
        return [w.pid for w in self._idle if w.pid is not None]

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones (the run was interrupted
        mid-batch) are killed, since nobody will collect their results."""
        idle, busy, self._idle, self._busy = self._idle, self._busy, [], set()
        for worker in busy:
            worker.stop(kill=True)
        for worker in idle:
            worker.stop()

    def _submit(self, fn: Callable[[Any], Any], job: Any) -> _Worker:
        worker = self._idle_worker()
        self._busy.add(worker)
        try:
            worker.conn.send((fn, job))
        except OSError:  # died between jobs: the next _wait reports it
            pass
        except (pickle.PicklingError, AttributeError, TypeError) as exc:  # nothing was sent
            self._busy.discard(worker)
            self._idle.append(worker)
            raise ValueError(
                f"pool executor: cannot send a job to a worker process ({exc}); jobs and their "
                "function must be picklable (a module-level function, not a lambda)"
            ) from exc
        return worker

    def _idle_worker(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
            worker.stop(kill=True)
        return _Worker(self._context)

    def _wait(self, handles: list[_Worker], timeout_s: float | None) -> list[tuple[_Worker, Any]]:
        by_event: dict[Any, _Worker] = {w.conn: w for w in handles}
        by_event.update({w.process.sentinel: w for w in handles})
        events = wait(list(by_event), timeout_s)
        ended = {id(by_event[event]): by_event[event] for event in events}
        return [(worker, self._collect(worker)) for worker in ended.values()]

    def _collect(self, worker: _Worker) -> Any:
        """The worker's result, or Died; a live worker goes back to the idle list."""
        self._busy.discard(worker)
        try:
            if worker.conn.poll():  # a result sent just before dying still counts
                result = worker.conn.recv()
                self._idle.append(worker)
                return result
        except (EOFError, OSError):
            pass
        worker.process.join(_STOP_SECONDS)
        worker.stop(kill=True)
        return Died(_death_reason(worker.process.exitcode))

    def _abandon(self, handles: list[_Worker]) -> None:
        for worker in handles:
            self._busy.discard(worker)
            worker.stop(kill=True)


def _death_reason(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"worker process died (exit code {exitcode})"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:  # a real-time signal has no name of its own
        name = f"signal {-exitcode}"
    return f"worker process died (killed by {name})"


def _serve(conn: Connection, driver_pid: int) -> None:
    """A worker's life: run (fn, job) pairs until told to stop or the driver is gone."""
    # Ctrl-C reaches the whole process group; the driver handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(driver_pid)
    one_torch_thread()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the driver died: nobody wants the results
            return
        if task is None:
            return
        fn, job = task
        if not _send(conn, call_safely(fn, job)):
            return


def _send(conn: Connection, result: Any) -> bool:
    try:
        conn.send(result)
    except OSError:  # the driver is gone
        return False
    except Exception as exc:  # the result cannot be pickled: a failure, not a dead worker
        conn.send(JobFailure(f"result could not be sent back: {type(exc).__name__}: {exc}"))
    return True
