"""What a run stores: trial records and their states, the SQL tables that hold them, the error."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TrialState(StrEnum):
    """Where a trial stands. Only RUNNING is unfinished."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
"""States whose result can be reused for a repeated architecture."""


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a run, as stored.

    ``arch``, ``hardware``, ``metrics`` and ``timings`` are stored as JSON, so they must hold
    JSON values (dicts with string keys, lists, strings, numbers, bools, None); tuples come
    back as lists.
    """

    number: int  # 0, 1, 2, ... unique in the run
    batch: int  # controller batch index the trial belongs to
    slot: int  # index inside the batch; (batch, slot) is unique in the run
    strategy: str
    state: TrialState
    arch_key: str  # canonical architecture string, used to find repeats
    arch: dict[str, Any]  # architecture JSON
    hardware: dict[str, Any] | None  # hardware design JSON, None if there is none
    metrics: dict[str, float]  # accuracy, fps, gops_per_w, ...
    reward: float | None
    reason: str  # why pruned or failed; "" otherwise
    seed: int
    started_at: float  # unix seconds
    finished_at: float | None  # unix seconds
    timings: dict[str, float]  # e.g. fast_seconds, train_seconds
    attempts: int = 1  # training tries, counting retries after a worker died
    reused_from: int | None = None  # trial whose result was reused for this architecture


SCHEMA_VERSION = 1
"""Bump on any change to SCHEMA; a database of another version is refused, not migrated."""

SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE trials (
    number INTEGER PRIMARY KEY CHECK (number >= 0),
    batch INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'failed')),
    arch_key TEXT NOT NULL,
    arch TEXT NOT NULL,
    hardware TEXT,
    metrics TEXT NOT NULL,
    reward REAL,
    reason TEXT NOT NULL,
    seed INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    timings TEXT NOT NULL,
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    reused_from INTEGER REFERENCES trials (number),
    UNIQUE (batch, slot)
);
CREATE INDEX trials_by_arch_key ON trials (arch_key, number);
CREATE TABLE checkpoints (
    batch INTEGER PRIMARY KEY,
    blob BLOB NOT NULL,
    saved_at REAL NOT NULL
);
"""

_COLUMNS = (
    "number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason, "
    "seed, started_at, finished_at, timings, attempts, reused_from"
)
_NAMES = _COLUMNS.split(", ")
UPSERT_TRIAL = (
    f"INSERT INTO trials ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))}) "
    f"ON CONFLICT (number) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _NAMES[1:])
)
SELECT_TRIALS = f"SELECT {_COLUMNS} FROM trials"


class StorageError(Exception):
    """A run database could not be used; the message names the file and the cause in one line."""


def row_from_record(record: TrialRecord) -> tuple[object, ...]:
    """The ``trials`` row of a record, in column order, with the JSON fields encoded."""
    if record.reward is not None and math.isnan(record.reward):
        raise ValueError(f"trial {record.number}: reward is NaN; store None for no reward")
    hardware = None if record.hardware is None else json.dumps(record.hardware)
    return (
        record.number,
        record.batch,
        record.slot,
        record.strategy,
        TrialState(record.state).value,
        record.arch_key,
        json.dumps(record.arch),
        hardware,
        json.dumps(record.metrics),
        record.reward,
        record.reason,
        record.seed,
        record.started_at,
        record.finished_at,
        json.dumps(record.timings),
        record.attempts,
        record.reused_from,
    )


def record_from_row(row: tuple[Any, ...]) -> TrialRecord:
    """The record of a ``trials`` row selected with SELECT_TRIALS."""
    (number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason,
     seed, started_at, finished_at, timings, attempts, reused_from) = row  # fmt: skip
    return TrialRecord(
        number=number,
        batch=batch,
        slot=slot,
        strategy=strategy,
        state=TrialState(state),
        arch_key=arch_key,
        arch=json.loads(arch),
        hardware=None if hardware is None else json.loads(hardware),
        metrics=json.loads(metrics),
        reward=reward,
        reason=reason,
        seed=seed,
        started_at=started_at,
        finished_at=finished_at,
        timings=json.loads(timings),
        attempts=attempts,
        reused_from=reused_from,
    )
