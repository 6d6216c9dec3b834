"""What a run stores: trial records and their states, the SQL tables that hold them, the error."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
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
    metrics: dict[str, float]  # the design's fps, gops_per_w, ...; a segmentation child's iou
    reward: float | None
    reason: str  # why pruned or failed; "" otherwise
    seed: int
    started_at: float  # unix seconds
    finished_at: float | None  # unix seconds
    timings: dict[str, float]  # e.g. fast_seconds, train_seconds
    attempts: int = 1  # 1, plus each retry after a worker died (0: not trained here)
    reused_from: int | None = None  # trial whose result was reused for this architecture
    meets_spec: bool = False  # the fast level found a design that meets the spec
    hw_tries: int = 0  # hardware samples drawn for it (controller fast mode; 0 otherwise)
    precision: str = ""  # the arithmetic its design computes in (fixed16, fixed8, fp32)
    accuracy: float | None = None  # validation accuracy at `precision` (None: not trained)
    float_accuracy: float | None = None  # the same network's float (fp32) validation accuracy
    accuracy_at: dict[str, float] = field(default_factory=dict)  # at each precision of the run
    epochs: int = 0  # training epochs it got (0: none yet, or looked up in a table)
    rung_accuracies: dict[int, float] = field(default_factory=dict)  # accuracy at each rung end
    val_images: int = 0  # images the accuracy rests on (0: not a count of images)
    network_key: str = ""  # the network: `SearchSpace.computation_key` of the architecture

    @property
    def trained(self) -> bool:
        """It has an accuracy: trained here, looked up in a table, or reused."""
        return self.accuracy is not None

    def flat_metrics(self) -> dict[str, float]:
        """The metrics as the outputs show them (trials.csv, picks.json, export): the hardware
        metrics, `meets_spec` (1.0 or 0.0), the other metrics, then the accuracy fields (the
        accuracy at `precision`, the float accuracy, the epochs, the rung accuracies as
        `accuracy_<E>ep`, the validation images), as earlier versions kept them in one dict."""
        hardware = [k for k in self.metrics if k in HARDWARE_METRICS]
        rest = {k: v for k, v in self.metrics.items() if k not in HARDWARE_METRICS}
        flag = 1.0 if self.meets_spec else 0.0
        out = {**{k: self.metrics[k] for k in hardware}, "meets_spec": flag, **rest}
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        if self.float_accuracy is not None:
            out["float_accuracy"] = self.float_accuracy
        if self.epochs:
            out["epochs"] = float(self.epochs)
        out |= {f"accuracy_{e}ep": a for e, a in sorted(self.rung_accuracies.items())}
        if self.val_images:
            out["val_images"] = float(self.val_images)
        return out

    def flat_timings(self) -> dict[str, float]:
        """The timings as the outputs show them: with `hw_tries` after `fast_seconds`."""
        fast = {k: v for k, v in self.timings.items() if k == "fast_seconds"}
        return {**fast, "hw_tries": float(self.hw_tries), **self.timings}


HARDWARE_METRICS = frozenset(
    {"fps", "latency_ms", "pipeline_efficiency", "power_w", "gops_per_w", "fpgas"}
)
"""The metrics of a hardware evaluation (`HardwareEvaluation.metrics`): stored first."""


SCHEMA_VERSION = 5
"""Bump on any change to SCHEMA or to what a column means, and add the step from the version
before to MIGRATIONS.
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
    precision TEXT NOT NULL DEFAULT '',
    accuracy REAL,
    float_accuracy REAL,
    accuracy_at TEXT NOT NULL DEFAULT '{}',
    epochs INTEGER NOT NULL DEFAULT 0 CHECK (epochs >= 0),
    rung_accuracies TEXT NOT NULL DEFAULT '{}',
    val_images INTEGER NOT NULL DEFAULT 0 CHECK (val_images >= 0),
    network_key TEXT NOT NULL DEFAULT '',
    UNIQUE (batch, slot)
);
CREATE INDEX trials_by_arch_key ON trials (arch_key, number);
CREATE INDEX trials_by_network_key ON trials (network_key, number);
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

ACCURACY_FIELDS = """
ALTER TABLE trials ADD COLUMN precision TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN accuracy REAL;
ALTER TABLE trials ADD COLUMN float_accuracy REAL;
ALTER TABLE trials ADD COLUMN accuracy_at TEXT NOT NULL DEFAULT '{}';
ALTER TABLE trials ADD COLUMN epochs INTEGER NOT NULL DEFAULT 0 CHECK (epochs >= 0);
ALTER TABLE trials ADD COLUMN rung_accuracies TEXT NOT NULL DEFAULT '{}';
ALTER TABLE trials ADD COLUMN val_images INTEGER NOT NULL DEFAULT 0 CHECK (val_images >= 0);
ALTER TABLE trials ADD COLUMN network_key TEXT NOT NULL DEFAULT '';
UPDATE trials SET network_key = arch_key, precision = COALESCE(
    (SELECT json_extract(value, '$.hardware.precision') FROM meta WHERE key = 'config'), 'fixed16'
);
UPDATE trials SET
    accuracy = json_extract(metrics, '$.accuracy'),
    float_accuracy = json_extract(metrics, '$.accuracy'),
    epochs = MAX(0, CAST(COALESCE(json_extract(metrics, '$.epochs'), 0) AS INTEGER)),
    val_images = MAX(0, CAST(COALESCE(json_extract(metrics, '$.val_images'), 0) AS INTEGER)),
    rung_accuracies = (
        SELECT COALESCE(json_group_object(substr(key, 10, length(key) - 11), value), '{}')
        FROM json_each(trials.metrics) WHERE key GLOB 'accuracy_[0-9]*ep'
    ),
    metrics = (
        SELECT COALESCE(json_group_object(key, value), '{}') FROM json_each(trials.metrics)
        WHERE key NOT IN ('accuracy', 'epochs', 'val_images') AND key NOT GLOB 'accuracy_[0-9]*ep'
    )
WHERE json_valid(metrics) AND json_type(metrics) = 'object';
UPDATE trials SET accuracy_at = json_object(precision, accuracy) WHERE accuracy IS NOT NULL;
CREATE INDEX trials_by_network_key ON trials (network_key, number);
"""
"""Version 3 -> 4: the accuracy bookkeeping moves out of the metrics JSON (`accuracy`,
`epochs`, `val_images` and the rung accuracies `accuracy_<E>ep`, all floats there) into typed
columns, beside the new `precision` (the stored config's `hardware.precision`), `float_accuracy`
and `accuracy_at` (earlier versions measured float accuracies only: both are that accuracy) and
`network_key` (the architecture key: earlier versions told networks apart by it)."""

ATTEMPTS_AS_TRIES = """
UPDATE trials SET attempts = MAX(1, attempts - epochs + (state != 'failed'))
WHERE attempts > 0 AND epochs > 0;
"""
"""Version 4 -> 5: `attempts` counted every training job a child ran, one per epoch (a child
trained 8 epochs without a hitch had 8); now it is 1 plus the retries after a worker died. A
trained child ran one job per epoch it got, and a failed one one more, so the retries are what
is left after those. (A child of an older run that trained several epochs in one job keeps at
least 1.) The schema itself is unchanged."""

MIGRATIONS = {1: TRAIN_STATES, 2: TYPED_FIELDS, 3: ACCURACY_FIELDS, 4: ATTEMPTS_AS_TRIES}
"""Version -> the SQL that brings a database of that version to the next one."""

_COLUMNS = (
    "number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason, "
    "seed, started_at, finished_at, timings, attempts, reused_from, meets_spec, hw_tries, "
    "precision, accuracy, float_accuracy, accuracy_at, epochs, rung_accuracies, val_images, "
    "network_key"
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
        record.precision,
        record.accuracy,
        record.float_accuracy,
        json.dumps(record.accuracy_at),
        int(record.epochs),
        json.dumps({str(e): a for e, a in record.rung_accuracies.items()}),
        int(record.val_images),
        record.network_key,
    )


def record_from_row(row: tuple[Any, ...]) -> TrialRecord:
    """The record of a ``trials`` row selected with SELECT_TRIALS.

    ValueError naming the trial and the field when the row holds what no TrialRecord stored
    (SQLite checks no JSON and stores any bytes a damaged file hands it).
    """
    (number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason,
     seed, started_at, finished_at, timings, attempts, reused_from, meets_spec, hw_tries,
     precision, accuracy, float_accuracy, accuracy_at, epochs, rung_accuracies, val_images,
     network_key) = row  # fmt: skip
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
            precision=precision,
            accuracy=accuracy,
            float_accuracy=float_accuracy,
            accuracy_at=json_object(accuracy_at, "accuracy_at"),
            epochs=epochs,
            rung_accuracies={
                int(e): a for e, a in json_object(rung_accuracies, "rung_accuracies").items()
            },
            val_images=val_images,
            network_key=network_key,
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
