"""Fuzzing run databases: a run file with random bytes overwritten either reads back or fails
with a one-line StorageError naming the file; it never raises anything else."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.storage import RunStorage, StorageError, TrialRecord, TrialState


def record(number: int) -> TrialRecord:
    return TrialRecord(
        number=number,
        batch=number // 4,
        slot=number % 4,
        strategy="random",
        state=TrialState.COMPLETE if number % 3 else TrialState.PRUNED,
        arch_key=f"arch-{number}",
        arch={"layers": [{"kernel": 3, "filters": 24}] * 3},
        hardware={"fpgas": [1, 2]},
        metrics={"accuracy": 0.9, "fps": 1234.5},
        reward=0.5,
        reason="",
        seed=number,
        started_at=1.7e9,
        finished_at=1.7e9 + 1,
        timings={"fast_seconds": 0.01},
    )


@pytest.fixture(scope="module")
def run_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("db") / "run.db"
    with RunStorage.create(path, {"run": {"seed": 1}, "spec": {"fps": 100.0}}) as storage:
        for number in range(12):
            storage.put_trial(record(number))
        storage.save_checkpoint(2, b"controller state" * 20)
        storage.set_meta("status", "running")
    return path.read_bytes()  # closing checkpointed the log into the file


def read_everything(path: Path) -> None:
    with RunStorage.open(path) as storage:
        storage.config()
        storage.trials()
        storage.counts()
        storage.latest_checkpoint()
        storage.find_trained("arch-3")
        storage.get_meta("status")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_run_file_reads_or_fails_with_one_line(run_bytes: bytes, data: st.DataObject):
    damaged = bytearray(run_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at : at + 4] = data.draw(st.binary(min_size=1, max_size=4))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.db"
        path.write_bytes(bytes(damaged[: data.draw(st.integers(1, len(damaged)))]))
        try:
            read_everything(path)
        except StorageError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc), exc


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("UPDATE trials SET metrics = '{not json' WHERE number = 1", "trial 1: metrics"),
        ("UPDATE trials SET arch = x'ff00' WHERE number = 1", "trial 1: arch"),
        ("UPDATE trials SET timings = '[1, 2]' WHERE number = 1", "trial 1: timings"),
        ("UPDATE trials SET state = 'bogus' WHERE number = 1", "trial 1: 'bogus'"),
        ("UPDATE meta SET value = '{x' WHERE key = 'config'", "config"),
        ("UPDATE checkpoints SET blob = 'text'", "checkpoint"),
    ],
)
def test_a_damaged_value_in_a_sound_file_is_a_storage_error(
    run_bytes: bytes, tmp_path: Path, sql: str, says: str
):
    path = tmp_path / "run.db"
    path.write_bytes(run_bytes)
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA ignore_check_constraints = ON")  # what bit rot does, SQLite allows
    raw.execute(sql)
    raw.commit()
    raw.close()
    with pytest.raises(StorageError, match="damaged") as error:
        read_everything(path)
    assert says in str(error.value) and "\n" not in str(error.value)
