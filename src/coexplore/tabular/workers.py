"""Worker processes that never outlive the process that started them.

A plain `ProcessPoolExecutor` leaves its workers blocked on a pipe when its parent is killed,
and waits for running tasks when the parent is stopped by a signal. Here:
- each worker watches its parent's sentinel from a thread and exits as soon as the parent is
  gone, however it died (SIGKILL included), and ignores SIGINT (Ctrl-C reaches the whole
  process group; the parent decides what happens);
- while the pool is open, SIGTERM in the parent raises SystemExit like Ctrl-C raises
  KeyboardInterrupt, and any exception leaving the block terminates the workers at once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import wait
from types import FrameType


@contextmanager
def workers_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context process pool whose workers die with this process."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_follow_parent)
    try:
        with _sigterm_raises():
            yield pool
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown()


def _terminate(pool: ProcessPoolExecutor) -> None:
    # The executor has no public way to stop running tasks before Python 3.14.
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _follow_parent() -> None:
    """Worker initializer: ignore Ctrl-C, exit when the parent process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])  # readable once the parent has exited
        os._exit(1)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()
