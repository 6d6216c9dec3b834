"""The contract every executor keeps: results in job order, failures as values, tries counted;
and for executors with worker processes: parallel work, one torch thread, deaths retried."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flaky_training import (
    RETRIES,
    DieTimes,
    Meet,
    busy_interval,
    fail_on_odd,
    sleep_then_square,
    square,
    torch_threads,
    tries,
)

from coexplore.config import load_config
from coexplore.executors import (
    Executor,
    JobFailure,
    LocalExecutor,
    PoolExecutor,
    make_executor,
)


def test_results_come_in_job_order_even_when_later_jobs_finish_first(any_executor: Executor):
    jobs = list(range(6))
    assert list(any_executor.imap(sleep_then_square, jobs)) == [x * x for x in jobs]
    assert list(any_executor.imap(square, [])) == []


def test_an_exception_is_a_failure_value_and_the_other_jobs_finish(any_executor: Executor):
    outcomes = list(any_executor.imap_attempts(fail_on_odd, [0, 1, 2, 3]))
    assert [o.result for o in outcomes[::2]] == [0, 2]
    for outcome in outcomes[1::2]:
        assert isinstance(outcome.result, JobFailure) and outcome.attempts == 1
        assert outcome.result.reason.startswith("ValueError: odd job")
        assert "\n" not in outcome.result.reason and outcome.result.attempts == 1


def test_jobs_of_one_batch_run_in_parallel(worker_executor: Executor, tmp_path: Path):
    # Each job waits for the other to start: both meet only if they run at once. (Comparing the
    # start and end times of two 1 s sleeps depended on how fast a worker starts under load.)
    (pid_a, met_a), (pid_b, met_b) = worker_executor.imap(Meet(str(tmp_path), (0, 1)), [0, 1])
    assert pid_a != pid_b
    assert met_a and met_b, "the two jobs never ran at the same time"


def test_each_worker_has_one_torch_thread(worker_executor: Executor):
    assert set(worker_executor.imap(torch_threads, [0, 1, 2, 3])) == {1}


def test_a_job_whose_worker_died_is_retried_and_its_tries_counted(
    worker_executor: Executor, tmp_path: Path
):
    outcomes = list(worker_executor.imap_attempts(DieTimes(str(tmp_path), deaths=1), [10, 11]))
    assert [o.result for o in outcomes] == [10, 11]
    assert [o.attempts for o in outcomes] == [len(tries(tmp_path, x)) for x in (10, 11)] == [2, 2]


def test_a_job_that_kills_every_worker_fails_after_the_retries(
    worker_executor: Executor, tmp_path: Path
):
    killer = DieTimes(str(tmp_path), deaths=RETRIES + 5)
    [(result, attempts)] = worker_executor.imap_attempts(killer, [1])
    assert isinstance(result, JobFailure)
    assert attempts == result.attempts == RETRIES + 1 == len(tries(tmp_path, 1))
    assert "died" in result.reason.lower() and "\n" not in result.reason
    assert list(worker_executor.imap(square, [3, 4])) == [9, 16], "the executor must recover"


def test_stopping_early_leaves_the_executor_usable(worker_executor: Executor):
    results = worker_executor.imap(busy_interval, [0.1, 60.0, 60.0])
    next(results)
    started = time.time()
    results.close()
    assert list(worker_executor.imap(square, [5, 6])) == [25, 36]
    assert time.time() - started < 30, "abandoned jobs should be stopped, not waited for"


def test_a_function_a_pool_cannot_send_is_a_clear_error(pool_executor: PoolExecutor):
    with pytest.raises(ValueError, match="must be picklable"):
        list(pool_executor.imap(lambda x: x, [1]))
    assert list(pool_executor.imap(square, [7])) == [49]


def test_closing_a_pool_stops_its_workers():
    pool = PoolExecutor(workers=2, retries=0)
    assert list(pool.imap(square, [1, 2])) == [1, 4]
    pids = pool.pids()
    assert len(pids) == 2
    pool.close()
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)


def test_make_executor_follows_the_executor_section():
    assert isinstance(make_executor(load_config("quick")), LocalExecutor)
    config = load_config(
        "quick", overrides={"executor.kind": "pool", "executor.workers": 3, "executor.retries": 0}
    )
    with make_executor(config) as pool:
        assert isinstance(pool, PoolExecutor) and (pool.workers, pool.retries) == (3, 0)


@pytest.mark.parametrize(("workers", "retries"), [(0, 1), (1, -1)])
def test_a_pool_refuses_impossible_sizes(workers: int, retries: int):
    with pytest.raises(ValueError, match="workers must be >= 1"):
        PoolExecutor(workers, retries)
