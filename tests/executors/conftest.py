"""Executors shared by the executor tests: one worker pool and one local Ray cluster per session.

Starting Ray takes seconds, so the cluster starts once, on first use, and is shut down at the
end. Its workers find the test helpers through PYTHONPATH, its files go to a short temporary
folder (Ray's socket paths must stay under ~100 characters), and token auth is off.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from coexplore.executors import EXECUTORS, Executor, LocalExecutor, PoolExecutor

TESTS = Path(__file__).parent.parent
# The helpers import the loop tests' fake trainer, also when only this folder is collected.
sys.path[:0] = [str(TESTS / "executors"), str(TESTS / "search")]

from flaky_training import RETRIES, WORKERS  # noqa: E402 - needs the path above


@pytest.fixture(scope="session")
def pool_executor() -> Iterator[PoolExecutor]:
    with PoolExecutor(workers=WORKERS, retries=RETRIES) as pool:
        yield pool


@pytest.fixture(scope="session")
def ray_executor() -> Iterator[Executor]:
    if not os.environ.get("CI"):  # in CI a missing Ray must fail, not skip its tests
        pytest.importorskip("ray")
    from coexplore.executors.ray_cluster import RayExecutor

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    paths = [str(TESTS / "executors"), str(TESTS / "search"), os.environ.get("PYTHONPATH", "")]
    env = {
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": temp,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        with RayExecutor(workers=WORKERS, retries=RETRIES) as executor:
            yield executor
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def local_executor() -> Executor:
    return LocalExecutor()


# Every registered kind runs the executor contract: a new one needs a `<kind>_executor` fixture
# here (the tests that use `any_executor` fail until it has one).
@pytest.fixture(params=list(EXECUTORS))
def any_executor(request: pytest.FixtureRequest) -> Executor:
    if request.param == "ray":
        request.applymarker(pytest.mark.slow)
    return request.getfixturevalue(f"{request.param}_executor")


@pytest.fixture(params=["pool", "ray"])
def worker_executor(request: pytest.FixtureRequest) -> Executor:
    """Executors whose jobs run in other processes: these may lose a worker."""
    return request.getfixturevalue(f"{request.param}_executor")
