"""One SQLite database per run: trials, controller checkpoints and a little metadata.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A commit appends to the
write-ahead log before ``put_trial`` returns, so a process killed right after (even by SIGKILL)
loses nothing: the log lives in the operating system's cache and is replayed on the next open.
Only a power cut or kernel crash can roll back the last few commits (the log is fsynced at
checkpoints, not at every commit); the database stays consistent even then. ``synchronous=FULL``
would close that gap at the cost of an fsync per trial, which a search does not need: a lost
trial is simply run again on ``resume``.

A ``RunStorage`` wraps one connection; use it from one thread. Other processes may read the
same run at the same time (a report while a search runs); writers wait up to the busy timeout.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from coexplore.storage.records import (
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    SELECT_TRIALS,
    UPSERT_TRIAL,
    StorageError,
    TrialRecord,
    TrialState,
    json_object,
    record_from_row,
    row_from_record,
    sqlite_cause,
)

DB_NAME = "run.db"
"""The run database's name in a run folder."""

KEEP_CHECKPOINTS = 3
"""Controller checkpoints kept per run: the newest few, so one bad blob is not the only copy."""

_RESERVED_META = ("schema_version", "config")

PICKLE_HEADER = b"\x80"
"""How a pickle of protocol 2 or later begins (older coexplore stored some strategy states so).
Checkpoints are JSON or torch's weights-only zip now; neither begins with this byte."""


class RunStorage:
    """The database of one run. Make one with ``create`` or ``open``; close it (or use ``with``).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp, RunStorage.create(
    ...     Path(tmp) / "run.db", {"seed": 1}
    ... ) as run:
    ...     run.config(), run.next_number()
    ({'seed': 1}, 0)
    """

    def __init__(self, path: Path, connection: sqlite3.Connection, busy_timeout_seconds: float):
        self.path = path
        self._conn = connection
        self._busy_timeout_seconds = busy_timeout_seconds

    @classmethod
    def create(cls, path: Path, config: dict[str, Any], busy_timeout_seconds: float = 30.0) -> Self:
        """Make a new run database holding ``config``; refuses to touch an existing file."""
        config_json = json.dumps(config)
        try:
            path.open("xb").close()  # atomic: two runs racing for one path cannot both win
        except FileExistsError:
            raise StorageError(f"{path}: refusing to create a run database: file exists") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot create a run database: {exc.strerror}") from exc
        try:
            run = cls(path, _connect(path, busy_timeout_seconds), busy_timeout_seconds)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        try:
            run._write_schema(config_json)
        except BaseException:
            run.close()
            path.unlink(missing_ok=True)
            raise
        return run

    @classmethod
    def open(cls, path: Path, busy_timeout_seconds: float = 30.0) -> Self:
        """Open an existing run database, migrating an older schema version to this one."""
        if not path.is_file():
            raise StorageError(f"{path}: cannot open run database: no such file")
        run = cls(path, _connect(path, busy_timeout_seconds), busy_timeout_seconds)
        try:
            run._migrate()
            run._check_schema()
        except BaseException:
            run.close()
            raise
        return run

    def close(self) -> None:
        """Close the connection; calling it twice is harmless."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStorage({str(self.path)!r})"

    # --- metadata -------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The resolved config stored when the run was created (a fresh copy each call)."""
        stored = self._meta("config")
        if stored is None:
            raise StorageError(f"{self.path}: run database has no config")
        try:
            return json_object(stored, "the stored config")
        except ValueError as exc:
            raise StorageError(f"{self.path}: run database is damaged: {exc}") from None

    def replace_config(self, config: dict[str, Any]) -> None:
        """Store a mended config (`resume --set`: a moved data folder, another executor)."""
        self._put_meta("config", json.dumps(config))

    def set_meta(self, key: str, value: str) -> None:
        """Store a free-form value such as ``status=running``; the schema's own keys are refused."""
        if key in _RESERVED_META:
            raise ValueError(
                f"meta key {key!r} is reserved (reserved: {', '.join(_RESERVED_META)})"
            )
        self._put_meta(key, value)

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        return self._meta(key)

    # --- trials ---------------------------------------------------------------------------

    def put_trial(self, record: TrialRecord, train_state: bytes = b"") -> None:
        """Insert the trial, or replace the stored one with the same number, atomically.

        A RUNNING trial may come with its training state (multi-fidelity: the weights to go
        on from), stored in the same transaction; a finished trial's state is dropped.
        """
        row = row_from_record(record)
        with self._writing(f"cannot store trial {record.number}") as conn:
            conn.execute(UPSERT_TRIAL, row)
            if record.state is not TrialState.RUNNING:
                conn.execute("DELETE FROM train_states WHERE number = ?", (record.number,))
            elif train_state:
                conn.execute(
                    "INSERT INTO train_states (number, epochs, blob) VALUES (?, ?, ?) "
                    "ON CONFLICT (number) DO UPDATE "
                    "SET epochs = excluded.epochs, blob = excluded.blob",
                    (record.number, record.epochs, bytes(train_state)),
                )

    def train_state(self, number: int) -> tuple[int, bytes] | None:
        """``(epochs, blob)`` stored with RUNNING trial ``number``, or None."""
        sql = "SELECT epochs, blob FROM train_states WHERE number = ?"
        with self._reading(f"cannot read the training state of trial {number}") as conn:
            found = conn.execute(sql, (number,)).fetchone()
        if found is None:
            return None
        if not isinstance(found[1], bytes):  # a damaged file can hand back text or a number
            raise StorageError(
                f"{self.path}: run database is damaged: training state of "
                f"trial {number} is not bytes"
            )
        return int(found[0]), found[1]

    def trials(self, states: Iterable[TrialState] | None = None) -> list[TrialRecord]:
        """All trials, or those in ``states``, ordered by number."""
        if states is None:
            return self._select("ORDER BY number")
        wanted = sorted({TrialState(state).value for state in states})
        marks = ", ".join("?" * len(wanted))
        return self._select(f"WHERE state IN ({marks}) ORDER BY number", *wanted)

    def trial(self, number: int) -> TrialRecord | None:
        """The trial with this number, or None."""
        return _first(self._select("WHERE number = ?", number))

    def trial_at(self, batch: int, slot: int) -> TrialRecord | None:
        """The trial in this slot of this controller batch, or None."""
        return _first(self._select("WHERE batch = ? AND slot = ?", batch, slot))

    def find_trained(self, network_key: str) -> TrialRecord | None:
        """The earliest COMPLETE trial of this network (`TrialRecord.network_key`): its
        accuracy is a result to reuse.

        PRUNED trials are passed over: they hold no accuracy, and an architecture pruned once
        (in controller mode, on the hardware sampled with it) may be trained by a later trial;
        that training is the one to reuse, not to repeat."""
        where = "WHERE network_key = ? AND state = ? ORDER BY number LIMIT 1"
        return _first(self._select(where, network_key, TrialState.COMPLETE.value))

    def counts(self) -> dict[TrialState, int]:
        """How many trials are in each state; every state is listed, zeros included."""
        sql = "SELECT state, COUNT(*) FROM trials GROUP BY state"
        with self._reading("cannot count trials") as conn:
            found = dict(conn.execute(sql).fetchall())
        return {state: found.get(state.value, 0) for state in TrialState}

    def next_number(self) -> int:
        """One past the highest trial number stored (0 for an empty run)."""
        with self._reading("cannot read trial numbers") as conn:
            (highest,) = conn.execute("SELECT MAX(number) FROM trials").fetchone()
        return 0 if highest is None else int(highest) + 1

    # --- controller checkpoints -----------------------------------------------------------

    def save_checkpoint(self, batch: int, blob: bytes) -> None:
        """Store the controller state after ``batch``; only the newest KEEP_CHECKPOINTS remain."""
        with self._writing(f"cannot store checkpoint of batch {batch}") as conn:
            conn.execute(
                "INSERT INTO checkpoints (batch, blob, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT (batch) DO UPDATE "
                "SET blob = excluded.blob, saved_at = excluded.saved_at",
                (batch, bytes(blob), time.time()),
            )
            conn.execute(
                "DELETE FROM checkpoints WHERE batch NOT IN "
                "(SELECT batch FROM checkpoints ORDER BY batch DESC LIMIT ?)",
                (KEEP_CHECKPOINTS,),
            )

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """``(batch, blob)`` of the highest batch checkpointed, or None."""
        sql = "SELECT batch, blob FROM checkpoints ORDER BY batch DESC LIMIT 1"
        with self._reading("cannot read checkpoints") as conn:
            found = conn.execute(sql).fetchone()
        if found is None:
            return None
        if not isinstance(found[1], bytes):  # a damaged file can hand back text or a number
            raise StorageError(f"{self.path}: run database is damaged: checkpoint is not bytes")
        if found[1].startswith(PICKLE_HEADER):
            raise StorageError(
                f"{self.path}: the checkpoint of batch {found[0]} is a Python pickle (written "
                "by an older coexplore); it is refused, not loaded, because unpickling a file "
                "from elsewhere can run any code. This run cannot be resumed; its trials can "
                "still be read (report, export), or start the run again"
            )
        return int(found[0]), found[1]

    def compact(self) -> None:
        """Give the free pages back to the file system (VACUUM), and empty the write-ahead log.

        A finished child's weights are deleted, which leaves their pages free inside the file; a
        finished run needs them no more (a default-preset run's file: 31.7 MB before, 0.23 MB
        after). Not inside a transaction; other connections must not be writing."""
        try:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise self._error("cannot compact the run database", exc) from exc

    # --- helpers --------------------------------------------------------------------------

    def _write_schema(self, config_json: str) -> None:
        meta = {"schema_version": str(SCHEMA_VERSION), "config": config_json}
        with self._writing("cannot create a run database") as conn:
            # Statement by statement: executescript() would commit before the schema is whole.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())

    def _migrate(self) -> None:
        """Bring a database of an older schema version to this one, in one transaction."""
        version = self._meta_if_any("schema_version")
        if version is None or not version.isdigit() or int(version) not in MIGRATIONS:
            return  # nothing we know how to migrate; _check_schema says what is wrong
        with self._writing("cannot migrate the run database") as conn:
            for step in range(int(version), SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    def _meta_if_any(self, key: str) -> str | None:
        """A meta value, or None when there is no meta table (not a run database)."""
        with self._reading("cannot read run database") as conn:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
        return None if has_meta is None else self._meta(key)

    def _check_schema(self) -> None:
        with self._reading("cannot read run database") as conn:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
        if has_meta is None:
            raise StorageError(f"{self.path}: not a coexplore run database (no meta table)")
        version = self._meta("schema_version")
        if version == str(SCHEMA_VERSION):
            return
        if version is not None and version.isdigit() and int(version) > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path}: schema version mismatch: the file has version {version}, written "
                f"by a newer coexplore; this coexplore reads version {SCHEMA_VERSION} and "
                "older: update coexplore to read it"
            )
        raise StorageError(
            f"{self.path}: schema version mismatch: the file has version {version}, "
            f"this coexplore reads version {SCHEMA_VERSION} and migrates "
            f"{', '.join(str(v) for v in sorted(MIGRATIONS))}"
        )

    def _meta(self, key: str) -> str | None:
        with self._reading(f"cannot read meta {key!r}") as conn:
            found = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def _put_meta(self, key: str, value: str) -> None:
        with self._writing(f"cannot store meta {key!r}") as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    def _select(self, where: str, *params: object) -> list[TrialRecord]:
        with self._reading("cannot read trials") as conn:
            rows = conn.execute(f"{SELECT_TRIALS} {where}", params).fetchall()
        try:
            return [record_from_row(row) for row in rows]
        except ValueError as exc:
            raise StorageError(f"{self.path}: run database is damaged: {exc}") from None

    @contextlib.contextmanager
    def _reading(self, action: str) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text: not UTF-8
            raise self._error(action, exc) from exc

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[sqlite3.Connection]:
        """One transaction: everything inside commits together or not at all."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")  # take the write lock now, waiting if busy
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (disk full); then there is nothing
                # left to roll back, and the first error is the one worth reporting.
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text: not UTF-8
            raise self._error(action, exc) from exc

    def _error(self, action: str, exc: sqlite3.Error | UnicodeDecodeError) -> StorageError:
        return StorageError(
            f"{self.path}: {action}: {sqlite_cause(exc, self._busy_timeout_seconds)}"
        )


def _connect(path: Path, busy_timeout_seconds: float) -> sqlite3.Connection:
    """A connection in WAL mode with foreign keys on; the file must exist."""
    try:
        # mode=rw: never create a database by accident; isolation_level=None: we say BEGIN.
        uri = f"{path.resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_seconds, isolation_level=None)
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text: not UTF-8
        raise StorageError(
            f"{path}: cannot open: {sqlite_cause(exc, busy_timeout_seconds)}"
        ) from exc
    # Text from a damaged file may not be UTF-8: decode leniently, the JSON checks then refuse it.
    conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = NORMAL")
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # damaged text: not UTF-8
        conn.close()
        raise StorageError(
            f"{path}: cannot open: {sqlite_cause(exc, busy_timeout_seconds)}"
        ) from exc
    if mode != "wal":
        conn.close()
        raise StorageError(f"{path}: cannot open: WAL journal mode unavailable (got {mode!r})")
    return conn


def _first(records: list[TrialRecord]) -> TrialRecord | None:
    return records[0] if records else None
