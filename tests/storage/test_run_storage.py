"""Run storage: records round-trip, queries, checkpoints, clear errors, and crash durability."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coexplore.storage
from coexplore.storage import (
    KEEP_CHECKPOINTS,
    SCHEMA_VERSION,
    RunStorage,
    StorageError,
    TrialRecord,
    TrialState,
)

CONFIG = {"space": "nas201", "seed": 7, "budget": {"trials": 12}}


def record(number: int, **changes: Any) -> TrialRecord:
    fields: dict[str, Any] = {
        "number": number,
        "batch": number // 4,
        "slot": number % 4,
        "strategy": "random",
        "state": TrialState.COMPLETE,
        "arch_key": f"arch-{number}",
        "arch": {"ops": [number, 1, 2]},
        "hardware": {"fpgas": 2},
        "metrics": {"fps": 100.0},
        "accuracy": 0.5,
        "reward": 0.25,
        "reason": "",
        "seed": 1000 + number,
        "started_at": 1.7e9 + number,
        "finished_at": 1.7e9 + number + 0.5,
        "timings": {"fast_seconds": 0.1},
    }
    fields.update(changes)
    fields.setdefault("network_key", fields["arch_key"])
    return TrialRecord(**fields)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[RunStorage]:
    with RunStorage.create(tmp_path / "run.db", CONFIG) as storage:
        yield storage


def assert_names(error: pytest.ExceptionInfo[StorageError], path: Path, cause: str) -> None:
    message = str(error.value)
    assert str(path) in message
    assert cause in message.lower()
    assert "\n" not in message


# --- round trip -----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
floats_by_name = st.dictionaries(st.text(max_size=10), st.floats(allow_nan=False), max_size=5)
int64 = st.integers(-(2**63), 2**63 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def records(draw: st.DrawFn) -> TrialRecord:
    number = draw(st.integers(0, 2**63 - 1))
    return TrialRecord(
        number=number,
        batch=draw(int64),
        slot=draw(int64),
        strategy=draw(st.text()),
        state=draw(st.sampled_from(TrialState)),
        arch_key=draw(st.text()),
        arch=draw(json_objects),
        hardware=draw(st.none() | json_objects),
        metrics=draw(floats_by_name),
        reward=draw(st.none() | st.floats(allow_nan=False)),
        reason=draw(st.text()),
        seed=draw(int64),
        started_at=draw(finite),
        finished_at=draw(st.none() | finite),
        timings=draw(floats_by_name),
        attempts=draw(st.integers(0, 50)),
        reused_from=draw(st.sampled_from([None, number])),  # only a stored trial may be named
        meets_spec=draw(st.booleans()),
        hw_tries=draw(st.integers(0, 2**31)),
        precision=draw(st.sampled_from(["fixed16", "fixed8", "fp32", ""])),
        accuracy=draw(st.none() | st.floats(0.0, 1.0)),
        float_accuracy=draw(st.none() | st.floats(0.0, 1.0)),
        accuracy_at=draw(st.dictionaries(st.sampled_from(["fixed16", "fixed8"]), finite)),
        epochs=draw(st.integers(0, 1000)),
        rung_accuracies=draw(st.dictionaries(st.integers(1, 1000), st.floats(0.0, 1.0))),
        val_images=draw(st.integers(0, 2**31)),
        network_key=draw(st.text()),
    )


@settings(max_examples=60, deadline=None)
@given(trial=records())
def test_record_round_trips_through_a_reopened_database(trial: TrialRecord) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.db"
        with RunStorage.create(path, CONFIG) as storage:
            storage.put_trial(trial)
        with RunStorage.open(path) as storage:
            assert storage.trial(trial.number) == trial
            assert storage.trials() == [trial]
            assert storage.config() == CONFIG


def test_put_trial_replaces_the_trial_with_the_same_number(run: RunStorage) -> None:
    run.put_trial(record(0, state=TrialState.RUNNING, reward=None, finished_at=None))
    done = record(0, attempts=2, metrics={"accuracy": 0.9})
    run.put_trial(done)
    assert run.trials() == [done]


def test_nan_reward_is_refused_rather_than_stored_as_none(run: RunStorage) -> None:
    with pytest.raises(ValueError, match="NaN"):
        run.put_trial(record(0, reward=float("nan")))
    assert run.trials() == []


# --- queries --------------------------------------------------------------------------------


def test_trials_are_ordered_by_number_and_filtered_by_state(run: RunStorage) -> None:
    states = [TrialState.FAILED, TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING]
    numbers = [5, 0, 9, 2, 7, 1]
    for number in numbers:
        run.put_trial(record(number, state=states[number % 4]))
    assert [t.number for t in run.trials()] == sorted(numbers)
    finished = run.trials([TrialState.COMPLETE, TrialState.PRUNED])
    assert [t.number for t in finished] == [1, 2, 5, 9]
    assert [t.number for t in run.trials([TrialState.FAILED])] == [0]
    assert run.trials([]) == []


def test_trial_and_trial_at_find_one_trial_or_none(run: RunStorage) -> None:
    for number in range(6):
        run.put_trial(record(number))
    assert run.trial(4) == record(4)
    assert run.trial(6) is None
    found = run.trial_at(1, 1)
    assert found is not None and found.number == 5
    assert run.trial_at(1, 2) is None


def test_find_trained_gives_the_earliest_complete_trial(run: RunStorage) -> None:
    run.put_trial(record(0, arch_key="a", state=TrialState.FAILED))
    run.put_trial(record(1, arch_key="a", state=TrialState.RUNNING))
    run.put_trial(record(2, arch_key="b"))
    run.put_trial(record(3, arch_key="a", state=TrialState.PRUNED, reason="too slow"))
    run.put_trial(record(4, arch_key="a"))
    run.put_trial(record(5, arch_key="a", reused_from=4))
    found = run.find_trained("a")
    assert found is not None and found.number == 4
    assert run.find_trained("c") is None


@settings(max_examples=30, deadline=None)
@given(states=st.lists(st.sampled_from(TrialState), max_size=20))
def test_counts_list_every_state(states: list[TrialState]) -> None:
    with tempfile.TemporaryDirectory() as tmp, RunStorage.create(Path(tmp) / "r.db", {}) as run:
        for number, state in enumerate(states):
            run.put_trial(record(number, state=state))
        expected = Counter(states)
        assert run.counts() == {state: expected[state] for state in TrialState}


def test_next_number_is_one_past_the_highest(run: RunStorage) -> None:
    assert run.next_number() == 0
    run.put_trial(record(0))
    run.put_trial(record(6))
    assert run.next_number() == 7


def test_a_second_trial_in_the_same_slot_is_refused(run: RunStorage) -> None:
    run.put_trial(record(0, batch=3, slot=1))
    with pytest.raises(StorageError) as error:
        run.put_trial(record(1, batch=3, slot=1))
    assert_names(error, run.path, "unique")
    assert run.trials() == [record(0, batch=3, slot=1)]


def test_reuse_must_name_a_stored_trial(run: RunStorage) -> None:
    with pytest.raises(StorageError) as error:
        run.put_trial(record(1, reused_from=0))
    assert_names(error, run.path, "foreign key")


# --- checkpoints and metadata ---------------------------------------------------------------


def test_latest_checkpoint_is_the_highest_batch_and_old_ones_are_dropped(
    run: RunStorage,
) -> None:
    assert run.latest_checkpoint() is None
    for batch in [0, 2, 1, 3, 4]:
        run.save_checkpoint(batch, f"state after {batch}".encode())
    assert run.latest_checkpoint() == (4, b"state after 4")
    run.save_checkpoint(4, b"\x00again")
    assert run.latest_checkpoint() == (4, b"\x00again")
    with sqlite3.connect(run.path) as raw:
        kept = [b for (b,) in raw.execute("SELECT batch FROM checkpoints ORDER BY batch")]
    assert kept == list(range(5 - KEEP_CHECKPOINTS, 5))


def test_meta_and_config_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    with RunStorage.create(path, CONFIG) as storage:
        assert storage.get_meta("status") is None
        storage.set_meta("status", "running")
        storage.set_meta("status", "finished")
        with pytest.raises(ValueError, match="reserved"):
            storage.set_meta("schema_version", "2")
    with RunStorage.open(path) as storage:
        assert storage.get_meta("status") == "finished"
        assert storage.config() == CONFIG
        assert storage.get_meta("schema_version") == str(SCHEMA_VERSION)


# --- opening and creating -------------------------------------------------------------------


def test_create_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    RunStorage.create(path, CONFIG).close()
    before = path.read_bytes()
    with pytest.raises(StorageError) as error:
        RunStorage.create(path, {"other": 1})
    assert_names(error, path, "exists")
    assert path.read_bytes() == before
    with RunStorage.open(path) as storage:
        assert storage.config() == CONFIG


def test_create_in_a_missing_directory_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "no" / "run.db"
    with pytest.raises(StorageError) as error:
        RunStorage.create(path, CONFIG)
    assert_names(error, path, "no such file")


def test_open_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StorageError) as error:
        RunStorage.open(path)
    assert_names(error, path, "no such file")
    assert not path.exists()


def test_open_refuses_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    RunStorage.create(path, CONFIG).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(StorageError) as error:
        RunStorage.open(path)
    assert_names(error, path, "schema version")
    assert str(SCHEMA_VERSION + 1) in str(error.value)


def test_open_refuses_a_sqlite_file_that_is_not_a_run(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE things (x)")
    raw.close()
    with pytest.raises(StorageError) as error:
        RunStorage.open(path)
    assert_names(error, path, "not a coexplore run")


def test_open_garbage_says_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(bytes(range(256)) * 16)
    with pytest.raises(StorageError) as error:
        RunStorage.open(path)
    assert_names(error, path, "not a database")


def test_corrupt_pages_say_malformed(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    with RunStorage.create(path, CONFIG) as storage:
        for number in range(40):
            storage.put_trial(record(number, arch={"blob": "x" * 500}))
        (page_bytes,) = storage._conn.execute("PRAGMA page_size").fetchone()
    data = bytearray(path.read_bytes())  # closing checkpointed the log into the file
    data[page_bytes:] = b"\xa5" * (len(data) - page_bytes)  # keep page 1, the schema
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError) as error, RunStorage.open(path) as storage:
        storage.trials()
    assert_names(error, path, "malformed")


# --- failures while running -----------------------------------------------------------------


def test_a_locked_database_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    storage = RunStorage.create(path, CONFIG, busy_timeout_seconds=0.2)
    storage.put_trial(record(0))
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StorageError) as error:
            storage.put_trial(record(1))
        waited_seconds = time.monotonic() - started
        assert_names(error, path, "locked")
        assert 0.15 < waited_seconds < 5
        assert storage.trials() == [record(0)]  # WAL: readers are not blocked by the writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    storage.put_trial(record(1))
    assert storage.next_number() == 2
    storage.close()


def test_a_full_disk_fails_the_write_and_keeps_earlier_trials(run: RunStorage) -> None:
    stored = [record(number) for number in range(3)]
    for trial in stored:
        run.put_trial(trial)
    (pages,) = run._conn.execute("PRAGMA page_count").fetchone()
    run._conn.execute(f"PRAGMA max_page_count = {pages}")  # this connection cannot grow the file
    big = record(3, arch={"blob": "x" * 100_000})
    with pytest.raises(StorageError) as error:
        run.put_trial(big)
    assert_names(error, run.path, "full")
    assert run.trials() == stored
    run._conn.execute(f"PRAGMA max_page_count = {pages * 1000}")
    run.put_trial(big)
    assert run.trials() == [*stored, big]


def test_a_read_only_database_fails_clearly(run: RunStorage) -> None:
    run.put_trial(record(0))
    run._conn.execute("PRAGMA query_only = ON")
    with pytest.raises(StorageError) as error:
        run.put_trial(record(1))
    assert_names(error, run.path, "read-only")
    assert run.trials() == [record(0)]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions"
)
def test_a_write_protected_file_opens_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    with RunStorage.create(path, CONFIG) as storage:
        storage.put_trial(record(0))
    path.chmod(0o444)
    with RunStorage.open(path) as storage:
        assert storage.trials() == [record(0)]
        with pytest.raises(StorageError) as error:
            storage.put_trial(record(1))
    assert_names(error, path, "read-only")


def test_a_closed_storage_fails_clearly(tmp_path: Path) -> None:
    storage = RunStorage.create(tmp_path / "run.db", CONFIG)
    storage.close()
    storage.close()
    with pytest.raises(StorageError) as error:
        storage.trials()
    assert_names(error, storage.path, "closed")


# --- durability -----------------------------------------------------------------------------

CHILD = """
import os, signal, sys
from pathlib import Path
from coexplore.storage import RunStorage, TrialRecord, TrialState

path, count = Path(sys.argv[1]), int(sys.argv[2])
storage = RunStorage.create(path, {"count": count})
for number in range(count):
    storage.put_trial(TrialRecord(
        number=number, batch=number, slot=0, strategy="random", state=TrialState.COMPLETE,
        arch_key=f"arch-{number}", arch={"n": number}, hardware=None,
        metrics={"accuracy": number / count}, reward=float(number), reason="", seed=number,
        started_at=0.0, finished_at=1.0, timings={},
    ))
os.kill(os.getpid(), signal.SIGKILL)  # right after the last put_trial: no close, no cleanup
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_trials_survive_sigkill_right_after_put_trial(tmp_path: Path) -> None:
    path, count = tmp_path / "run.db", 25
    src = Path(coexplore.storage.__file__).parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert Path(f"{path}-wal").exists()  # killed before any close could checkpoint the log
    with RunStorage.open(path) as storage:
        trials = storage.trials()
        assert [t.number for t in trials] == list(range(count))
        assert trials[-1].reward == count - 1
        assert storage.counts()[TrialState.COMPLETE] == count


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        record(0).reward = 1.0  # type: ignore[misc]


def test_a_training_state_lives_only_while_its_trial_runs(run: RunStorage) -> None:
    running = record(0, state=TrialState.RUNNING, epochs=2, accuracy=0.5)
    run.put_trial(running, b"two epochs")
    run.put_trial(dataclasses.replace(running, epochs=3), b"three epochs")
    assert run.train_state(0) == (3, b"three epochs")
    run.put_trial(dataclasses.replace(running, state=TrialState.COMPLETE))
    assert run.train_state(0) is None and run.trial(0).state is TrialState.COMPLETE


def test_compact_gives_the_dropped_weights_pages_back(tmp_path: Path) -> None:
    """A finished child's weights are deleted, leaving free pages; compact returns them."""
    path = tmp_path / "run.db"
    weights = os.urandom(2_000_000)
    with RunStorage.create(path, {"seed": 1}) as storage:
        running = [record(n, state=TrialState.RUNNING, epochs=1) for n in range(4)]
        for child in running:  # four children's weights at once: 8 MB
            storage.put_trial(child, weights)
        for child in running:
            storage.put_trial(dataclasses.replace(child, state=TrialState.COMPLETE))
        kept = storage.trials()
        with sqlite3.connect(path) as raw:
            free = raw.execute("PRAGMA freelist_count").fetchone()[0]
            assert free * raw.execute("PRAGMA page_size").fetchone()[0] > 7_000_000
        raw.close()
        storage.compact()
        assert storage.trials() == kept
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA freelist_count").fetchone()[0] == 0
    raw.close()
    assert path.stat().st_size < 1_000_000
    assert not (tmp_path / "run.db-wal").exists() or (tmp_path / "run.db-wal").stat().st_size == 0
