"""What a run stores: trial records and their states, the SQL tables that hold them, the error."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from coexplore.errors import CoexploreError


class TrialState(StrEnum):
    """Where a trial stands. Only RUNNING is unfinished."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


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
    meets_spec: bool = False  # the fast level found a design that meets the spec
    hw_tries: int = 0  # hardware samples drawn for it (controller fast mode; 0 otherwise)

    def flat_metrics(self) -> dict[str, float]:
        """The metrics as the outputs show them (trials.csv, picks.json, export): with
        `meets_spec` (1.0 or 0.0) among them, after the hardware metrics, where schema
        version 2 kept it."""
        hardware = [k for k in self.metrics if k in HARDWARE_METRICS]
        rest = {k: v for k, v in self.metrics.items() if k not in HARDWARE_METRICS}
        flag = 1.0 if self.meets_spec else 0.0
        return {**{k: self.metrics[k] for k in hardware}, "meets_spec": flag, **rest}

    def flat_timings(self) -> dict[str, float]:
        """The timings as the outputs show them: with `hw_tries` after `fast_seconds`."""
        fast = {k: v for k, v in self.timings.items() if k == "fast_seconds"}
        return {**fast, "hw_tries": float(self.hw_tries), **self.timings}


HARDWARE_METRICS = frozenset(
    {"fps", "latency_ms", "pipeline_efficiency", "power_w", "gops_per_w", "fpgas"}
)
"""The metrics of a hardware evaluation (`HardwareEvaluation.metrics`): stored first."""


SCHEMA_VERSION = 3
"""Bump on any change to SCHEMA, and add the step from the version before to MIGRATIONS.
A database of an older version is migrated when opened for writing; a newer one is refused."""

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
    meets_spec INTEGER NOT NULL DEFAULT 0 CHECK (meets_spec IN (0, 1)),
    hw_tries INTEGER NOT NULL DEFAULT 0 CHECK (hw_tries >= 0),
    UNIQUE (batch, slot)
);
CREATE INDEX trials_by_arch_key ON trials (arch_key, number);
CREATE TABLE checkpoints (
    batch INTEGER PRIMARY KEY,
    blob BLOB NOT NULL,
    saved_at REAL NOT NULL
);
"""

TRAIN_STATES = """
CREATE TABLE train_states (
    number INTEGER PRIMARY KEY REFERENCES trials (number),
    epochs INTEGER NOT NULL CHECK (epochs >= 1),
    blob BLOB NOT NULL
);
"""
"""Multi-fidelity training: a RUNNING child's weights between rungs (dropped when it finishes)."""

SCHEMA += TRAIN_STATES

TYPED_FIELDS = """
ALTER TABLE trials ADD COLUMN meets_spec INTEGER NOT NULL DEFAULT 0 CHECK (meets_spec IN (0, 1));
ALTER TABLE trials ADD COLUMN hw_tries INTEGER NOT NULL DEFAULT 0 CHECK (hw_tries >= 0);
UPDATE trials SET
    meets_spec = COALESCE(json_extract(metrics, '$.meets_spec') = 1.0, 0),
    metrics = json_remove(metrics, '$.meets_spec')
WHERE json_valid(metrics);
UPDATE trials SET
    hw_tries = MAX(0, CAST(COALESCE(json_extract(timings, '$.hw_tries'), 0) AS INTEGER)),
    timings = json_remove(timings, '$.hw_tries')
WHERE json_valid(timings);
"""
"""Version 2 -> 3: `meets_spec` and `hw_tries` move out of the metrics and timings JSON (where
they were floats, 1.0 / 0.0 and a count) into typed columns. A row whose JSON is damaged keeps
it as it is (reading it then names the damage) and gets the defaults."""

MIGRATIONS = {1: TRAIN_STATES, 2: TYPED_FIELDS}
"""Version -> the SQL that brings a database of that version to the next one."""

_COLUMNS = (
    "number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason, "
    "seed, started_at, finished_at, timings, attempts, reused_from, meets_spec, hw_tries"
)
_NAMES = _COLUMNS.split(", ")
UPSERT_TRIAL = (
    f"INSERT INTO trials ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))}) "
    f"ON CONFLICT (number) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _NAMES[1:])
)
SELECT_TRIALS = f"SELECT {_COLUMNS} FROM trials"


class StorageError(CoexploreError):
    """A run database could not be used; the message names the file and the cause in one line."""


_SQLITE_CAUSES = {
    sqlite3.SQLITE_NOTADB: "file is not a database",
    sqlite3.SQLITE_CORRUPT: "database disk image is malformed (the file is corrupt)",
    sqlite3.SQLITE_FULL: "database or disk is full",
    sqlite3.SQLITE_READONLY: "database is read-only",
    sqlite3.SQLITE_CANTOPEN: "unable to open database file",
}


def sqlite_cause(exc: sqlite3.Error | UnicodeDecodeError, busy_timeout_seconds: float) -> str:
    """What went wrong, in one line a user can act on."""
    if isinstance(exc, UnicodeDecodeError):  # SQLite handed back bytes that are not text
        return "database disk image is malformed (text that is not UTF-8)"
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF  # extended codes keep the primary in 8 bits
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"database is locked by another process or connection "
            f"(waited the busy timeout of {busy_timeout_seconds:g} s)"
        )
    message = _SQLITE_CAUSES.get(primary, str(exc)) if primary is not None else str(exc)
    return " ".join(message.split())  # one line, whatever SQLite said


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
        int(bool(record.meets_spec)),
        int(record.hw_tries),
    )


def record_from_row(row: tuple[Any, ...]) -> TrialRecord:
    """The record of a ``trials`` row selected with SELECT_TRIALS.

    ValueError naming the trial and the field when the row holds what no TrialRecord stored
    (SQLite checks no JSON and stores any bytes a damaged file hands it).
    """
    (number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason,
     seed, started_at, finished_at, timings, attempts, reused_from, meets_spec, hw_tries
     ) = row  # fmt: skip
    try:
        return TrialRecord(
            number=number,
            batch=batch,
            slot=slot,
            strategy=strategy,
            state=TrialState(state),
            arch_key=arch_key,
            arch=json_object(arch, "arch"),
            hardware=None if hardware is None else json_object(hardware, "hardware"),
            metrics=json_object(metrics, "metrics"),
            reward=reward,
            reason=reason,
            seed=seed,
            started_at=started_at,
            finished_at=finished_at,
            timings=json_object(timings, "timings"),
            attempts=attempts,
            reused_from=reused_from,
            meets_spec=bool(meets_spec),
            hw_tries=hw_tries,
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"trial {number!r}: {exc}") from None


def json_object(text: Any, what: str) -> dict[str, Any]:
    """The JSON object stored as ``text``; ValueError naming ``what`` if it is anything else."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):  # not JSON text, not even text (UTF-8 errors are ValueErrors)
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value
