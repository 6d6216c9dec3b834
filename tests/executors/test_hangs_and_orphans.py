"""A hung child is FAILED after the configured timeout; worker processes never outlive the search
that started them (SIGTERM, SIGINT or a kill -9 of the driver). Bounds are generous: they check
that something happens at all, not how fast."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from fake_training import fake_train
from flaky_training import Hang, tries

from coexplore import wiring as run
from coexplore.config import load_config, to_dict
from coexplore.errors import SearchStopped
from coexplore.executors import Executor, JobFailure, PoolExecutor
from coexplore.search.loop import run_search
from coexplore.storage import RunStorage, TrialState

TESTS = Path(__file__).parent.parent
GONE_WITHIN_S = 5.0  # after the signal, every process the driver started must be gone by then


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (children, their children, ...)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # ended while we looked
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    def running(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"  # a zombie has ended; only its parent's wait() is missing

    return {pid for pid in pids if running(pid)}


def wait_until(condition, seconds: float = 120.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_hung_child_times_out_and_the_pool_goes_on(tmp_path: Path):
    # Workers started first, and only the hung job runs under the limit: how long a worker
    # takes to start on a loaded machine must not decide what times out.
    with PoolExecutor(workers=2, retries=2) as pool:
        assert list(pool.imap(Hang(str(tmp_path)), [3, 4])) == [9, 16]
        before = set(pool.pids())
        pool.timeout_s = 1.0
        [hung] = pool.imap_attempts(Hang(str(tmp_path)), [-1])
        pool.timeout_s = 0.0
        [killed] = before - set(pool.pids())  # the worker that held the hung job
        assert not alive({killed})
        assert list(pool.imap(Hang(str(tmp_path)), [5, 6])) == [25, 36]
    assert hung.result == JobFailure("timed out after 1 s", 1) and hung.attempts == 1
    assert len(tries(tmp_path, -1)) <= 1, "a timed-out child is not retried: it would hang again"


@pytest.mark.slow
def test_a_hung_child_times_out_on_ray(ray_executor: Executor, tmp_path: Path):
    ray_executor.timeout_s = 1.0  # type: ignore[attr-defined]
    try:
        [hung] = ray_executor.imap_attempts(Hang(str(tmp_path)), [-1])
    finally:
        ray_executor.timeout_s = 0.0  # type: ignore[attr-defined]
    assert hung.result == JobFailure("timed out after 1 s", 1) and hung.attempts == 1
    assert len(tries(tmp_path, -1)) <= 1, "a timed-out child is not retried"
    assert wait_until(lambda: not alive({*tries(tmp_path, -1)}), 30)
    assert list(ray_executor.imap(Hang(str(tmp_path)), [3])) == [9]


def test_a_search_whose_children_all_hang_stops_with_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("COEXPLORE_FAKE_SLEEP", "3600")
    overrides = {"executor.kind": "pool", "executor.timeout_s": 1.0, "spec.fps": 0.0}
    config = load_config("quick", overrides={**overrides, "reward.hw_bounds": [0, 20000]})
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
        with run.make_executor(config) as pool, pytest.raises(SearchStopped) as stop:
            run_search(setup, storage, pool)
        trials = storage.trials()
    assert str(stop.value).endswith("all failed with: timed out after 1 s")
    assert [t.state for t in trials] == [TrialState.FAILED] * 4
    assert {t.reason for t in trials} == {"timed out after 1 s"} and {
        t.attempts for t in trials
    } == {1}


def test_a_timeout_needs_an_executor_that_can_stop_a_child():
    with pytest.raises(ValueError, match=r"executor\.timeout_s needs executor\.kind pool or ray"):
        run.check_config(load_config("quick", overrides={"executor.timeout_s": 5.0}))


POOL_DRIVER = """
import sys
sys.path[:0] = {paths!r}
from flaky_training import Hang
from coexplore.executors import PoolExecutor, signals_end_the_run
with PoolExecutor(workers=2) as pool, signals_end_the_run():
    list(pool.imap(Hang({folder!r}), [-1, -2]))
"""


def start_driver(script: str, folder: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    paths = [str(TESTS / "executors"), str(TESTS / "search")]
    code = script.format(paths=paths, folder=str(folder))
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    """A job started in the background by a shell without job control (`cmd &` in a script,
    nohup) inherits SIGINT ignored, and so would the driver: Ctrl-C as a user sends it must
    reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def workers_started(folder: Path, driver: subprocess.Popen, jobs: list[int]) -> set[int]:
    """Wait until each job has logged its worker's pid; the driver's descendants then."""
    ready = wait_until(lambda: all(tries(folder, j) for j in jobs) or driver.poll() is not None)
    assert ready and driver.poll() is None, "the driver should be running its hung jobs"
    return descendants(driver.pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_pool_workers_die_with_their_driver(tmp_path: Path, sig: signal.Signals):
    driver = start_driver(POOL_DRIVER, tmp_path)
    try:
        started = workers_started(tmp_path, driver, [-1, -2])
        assert {*tries(tmp_path, -1), *tries(tmp_path, -2)} <= started
        driver.send_signal(sig)
        assert wait_until(lambda: not alive(started), GONE_WITHIN_S), f"left: {alive(started)}"
    finally:
        driver.kill()
        driver.wait()


def test_an_interrupted_cli_search_leaves_no_worker(tmp_path: Path):
    """SIGTERM to `coexplore search` on a worker pool while its children train: it exits with
    status 143 and none of its processes is left."""
    script = """
import dataclasses, sys
sys.path[:0] = {paths!r}
from fake_training import fake_train
from coexplore import wiring as run
build = run.build_setup
run.build_setup = lambda *a: dataclasses.replace(build(*a), train_fn=fake_train)
from coexplore.cli import app
app(["search", "--preset", "quick", "--no-progress", "--out", {folder!r} + "/run",
     "--set", "executor.kind=pool", "--set", "spec.fps=0", "--set", "reward.hw_bounds=[0, 9e9]"])
"""
    log = tmp_path / "trained.log"  # the fake trainer logs each child it starts
    env = {"COEXPLORE_FAKE_SLEEP": "3600", "COEXPLORE_FAKE_LOG": str(log)}
    driver = start_driver(script, tmp_path, env)
    try:
        two = lambda: log.exists() and len(log.read_text().split()) >= 2  # noqa: E731
        assert wait_until(lambda: two() or driver.poll() is not None)
        assert driver.poll() is None, "the search should be training"
        started = descendants(driver.pid)
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(60) == 128 + signal.SIGTERM
        assert wait_until(lambda: not alive(started), GONE_WITHIN_S), f"left: {alive(started)}"
    finally:
        driver.kill()
        driver.wait()


RAY_DRIVER = """
import sys
sys.path[:0] = {paths!r}
from flaky_training import Hang
from coexplore.executors import signals_end_the_run
from coexplore.executors.ray_cluster import RayExecutor
with RayExecutor(workers=2) as ray_executor, signals_end_the_run():
    list(ray_executor.imap(Hang({folder!r}), [-1, -2]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_ray_workers_die_with_their_driver(tmp_path: Path, sig: signal.Signals):
    """A driver that started its own Ray cluster takes it down when stopped; when it is killed
    outright, the task workers still die at once (Ray's helper agents follow within a minute,
    by Ray's own liveness checks)."""
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must be short
    paths = [str(TESTS / "executors"), str(TESTS / "search"), os.environ.get("PYTHONPATH", "")]
    env = {"RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": str(temp)}
    driver = start_driver(RAY_DRIVER, tmp_path, {**env, "PYTHONPATH": os.pathsep.join(paths)})
    try:
        started = workers_started(tmp_path, driver, [-1, -2])
        hung = {*tries(tmp_path, -1), *tries(tmp_path, -2)}
        assert hung <= started
        driver.send_signal(sig)
        assert wait_until(lambda: not alive(hung), GONE_WITHIN_S), f"left: {alive(hung)}"
        everything = GONE_WITHIN_S if sig != signal.SIGKILL else 120
        assert wait_until(lambda: not alive(started), everything), f"left: {alive(started)}"
    finally:
        driver.kill()
        driver.wait()
        shutil.rmtree(temp, ignore_errors=True)
