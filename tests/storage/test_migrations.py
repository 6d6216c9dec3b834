"""Older run databases are migrated when opened: made here with the SQL and the row shape the
older coexplore wrote (frozen copies, not today's schema), so a change of today's schema cannot
hide a broken migration. A newer or unknown version is refused in one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from coexplore.storage import SCHEMA_VERSION, RunStorage, StorageError, TrialState

VERSION_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE TABLE checkpoints (batch INTEGER PRIMARY KEY, blob BLOB NOT NULL, saved_at REAL NOT NULL);
"""
VERSION_2 = (
    VERSION_1
    + """
CREATE TABLE train_states (
    number INTEGER PRIMARY KEY REFERENCES trials (number),
    epochs INTEGER NOT NULL CHECK (epochs >= 1),
    blob BLOB NOT NULL
);
"""
)
OLD_COLUMNS = (
    "number, batch, slot, strategy, state, arch_key, arch, hardware, metrics, reward, reason, "
    "seed, started_at, finished_at, timings, attempts, reused_from"
)
HARDWARE = {"fps": 300.0, "latency_ms": 3.3, "pipeline_efficiency": 0.9, "power_w": 2.0,
            "gops_per_w": 20.0, "fpgas": 2.0}  # fmt: skip


def _old_row(number: int, meets: bool, hw_tries: float, state: str = "complete") -> tuple:
    """A trial as versions 1 and 2 stored it: meets_spec and hw_tries as floats in the JSON."""
    metrics = {**HARDWARE, "meets_spec": 1.0 if meets else 0.0}
    if state == "complete":
        metrics |= {"accuracy": 0.5 + number / 100, "epochs": 1.0}
    timings = {"fast_seconds": 0.01, "hw_tries": hw_tries, "train_seconds": 2.0}
    return (number, 0, number, "rl", state, f"arch-{number}", json.dumps({"ops": [number]}),
            None, json.dumps(metrics), 0.3, "", 7 + number, 1.7e9, 1.7e9 + 1, json.dumps(timings),
            1, None)  # fmt: skip


def _old_database(path: Path, version: int, rows: list[tuple]) -> None:
    raw = sqlite3.connect(path)
    raw.executescript(VERSION_1 if version == 1 else VERSION_2)
    meta = [("schema_version", str(version)), ("config", '{"a": 1}')]
    raw.executemany("INSERT INTO meta VALUES (?, ?)", meta)
    raw.executemany(f"INSERT INTO trials ({OLD_COLUMNS}) VALUES ({', '.join('?' * 17)})", rows)
    raw.commit()
    raw.close()


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_is_migrated_to_typed_fields(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    _old_database(path, version, [_old_row(0, True, 3.0), _old_row(1, False, 10.0, "pruned")])
    with RunStorage.open(path) as storage:
        assert storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        first, second = storage.trials()
        assert storage.config() == {"a": 1}
    assert (first.meets_spec, first.hw_tries) == (True, 3)
    assert (second.meets_spec, second.hw_tries, second.state) == (False, 10, TrialState.PRUNED)
    assert "meets_spec" not in first.metrics and "hw_tries" not in first.timings
    assert first.metrics == HARDWARE
    assert (first.accuracy, first.float_accuracy, first.epochs) == (0.5, 0.5, 1)
    assert first.precision == "fixed16" and first.network_key == first.arch_key
    assert (second.accuracy, second.epochs) == (None, 0)
    assert first.timings == {"fast_seconds": 0.01, "train_seconds": 2.0}
    # The outputs show them where they were.
    assert list(first.flat_metrics()) == [
        *HARDWARE,
        "meets_spec",
        "accuracy",
        "float_accuracy",
        "epochs",
    ]
    assert first.flat_metrics()["meets_spec"] == 1.0
    assert first.flat_timings() == {"fast_seconds": 0.01, "hw_tries": 3.0, "train_seconds": 2.0}


def test_a_migrated_version_1_database_keeps_training_states(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path, 1, [_old_row(0, True, 0.0)])
    with RunStorage.open(path) as storage:
        running = storage.trial(0)
        assert running is not None
        import dataclasses

        running = dataclasses.replace(running, number=1, slot=1, state=TrialState.RUNNING)
        storage.put_trial(running, b"weights")
        assert storage.train_state(1) == (1, b"weights")
    with RunStorage.open(path) as storage:  # opening again migrates nothing more
        assert storage.train_state(1) == (1, b"weights")
        assert storage.trial(0).meets_spec is True


def test_a_row_with_damaged_json_is_migrated_and_then_named(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    row = list(_old_row(0, True, 1.0))
    row[8] = "{not json"
    _old_database(path, 2, [tuple(row)])
    with RunStorage.open(path) as storage, pytest.raises(StorageError, match="metrics"):
        storage.trials()


@pytest.mark.parametrize(
    ("version", "words"),
    [(str(SCHEMA_VERSION + 1), "newer coexplore"), ("banana", "banana"), ("0", "migrates")],
)
def test_a_newer_or_unknown_version_is_refused_in_one_line(tmp_path, version, words) -> None:
    path = tmp_path / "run.db"
    RunStorage.create(path, {"a": 1}).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    raw.close()
    with pytest.raises(StorageError, match="schema version") as error:
        RunStorage.open(path)
    message = str(error.value)
    assert words in message and str(path) in message and "\n" not in message


VERSION_3 = VERSION_2.replace(
    "    reused_from INTEGER REFERENCES trials (number),\n",
    "    reused_from INTEGER REFERENCES trials (number),\n"
    "    meets_spec INTEGER NOT NULL DEFAULT 0 CHECK (meets_spec IN (0, 1)),\n"
    "    hw_tries INTEGER NOT NULL DEFAULT 0 CHECK (hw_tries >= 0),\n",
)
V3_COLUMNS = OLD_COLUMNS + ", meets_spec, hw_tries"


def _v3_row(number: int, metrics: dict, state: str = "complete") -> tuple:
    """A trial as version 3 stored it: the accuracy bookkeeping as floats in the metrics."""
    return (number, 0, number, "coexplore", state, f"arch-{number}", json.dumps({"n": number}),
            None, json.dumps(metrics), 0.3, "", 7, 1.7e9, 1.7e9 + 1, "{}", 1, None, 1,
            0)  # fmt: skip


def _v3_database(path: Path, config: dict, rows: list[tuple]) -> None:
    raw = sqlite3.connect(path)
    raw.executescript(VERSION_3)
    raw.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("schema_version", "3"), ("config", json.dumps(config))]
    )
    marks = ", ".join("?" * 19)
    raw.executemany(f"INSERT INTO trials ({V3_COLUMNS}) VALUES ({marks})", rows)
    raw.commit()
    raw.close()


def test_a_version_3_database_gets_typed_accuracy_fields(tmp_path: Path) -> None:
    """Accuracy, epochs, rung accuracies and images move out of the metrics JSON; the precision
    is the stored config's; earlier runs measured float accuracies only."""
    path = tmp_path / "v3.db"
    trained = {**HARDWARE, "accuracy": 0.8, "epochs": 4.0, "accuracy_1ep": 0.5,
               "accuracy_4ep": 0.8, "val_images": 2000.0, "iou": 0.7}  # fmt: skip
    config = {"hardware": {"precision": "fixed8", "pool": "1xXC7Z020"}}
    _v3_database(path, config, [_v3_row(0, trained), _v3_row(1, HARDWARE, "pruned")])
    with RunStorage.open(path) as storage:
        assert storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        first, second = storage.trials()
        assert storage.find_trained("arch-0") == first
    assert first.metrics == {**HARDWARE, "iou": 0.7}
    assert (first.accuracy, first.float_accuracy, first.epochs, first.val_images) == (
        0.8, 0.8, 4, 2000
    )  # fmt: skip
    assert first.rung_accuracies == {1: 0.5, 4: 0.8}
    assert (first.precision, first.accuracy_at) == ("fixed8", {"fixed8": 0.8})
    assert (second.accuracy, second.epochs, second.rung_accuracies, second.precision) == (
        None, 0, {}, "fixed8"
    )  # fmt: skip
    assert first.flat_metrics() == {**HARDWARE, "meets_spec": 1.0, "iou": 0.7, "accuracy": 0.8,
                                    "float_accuracy": 0.8, "epochs": 4.0, "accuracy_1ep": 0.5,
                                    "accuracy_4ep": 0.8, "val_images": 2000.0}  # fmt: skip


VERSION_4 = (
    VERSION_3.replace(
        "    hw_tries INTEGER NOT NULL DEFAULT 0 CHECK (hw_tries >= 0),\n",
        "    hw_tries INTEGER NOT NULL DEFAULT 0 CHECK (hw_tries >= 0),\n"
        "    precision TEXT NOT NULL DEFAULT '',\n"
        "    accuracy REAL,\n"
        "    float_accuracy REAL,\n"
        "    accuracy_at TEXT NOT NULL DEFAULT '{}',\n"
        "    epochs INTEGER NOT NULL DEFAULT 0 CHECK (epochs >= 0),\n"
        "    rung_accuracies TEXT NOT NULL DEFAULT '{}',\n"
        "    val_images INTEGER NOT NULL DEFAULT 0 CHECK (val_images >= 0),\n"
        "    network_key TEXT NOT NULL DEFAULT '',\n",
    )
    + "CREATE INDEX trials_by_network_key ON trials (network_key, number);\n"
)
V4_COLUMNS = V3_COLUMNS + ", epochs, network_key"

# (state, epochs, attempts as version 4 counted them: one per training job, retries included)
# -> attempts today: 1 plus the retries after a worker died (0: not trained here).
V4_ATTEMPTS = [
    ("complete", 8, 8, 1),  # 8 epochs, one job each, no retry
    ("complete", 8, 10, 3),  # two of its jobs retried once each
    ("complete", 1, 1, 1),
    ("failed", 2, 3, 1),  # two epochs done, the third job failed on its first try
    ("failed", 0, 3, 3),  # its first job died three times
    ("running", 2, 3, 2),  # killed mid-search after a retry
    ("pruned", 0, 0, 0),
    ("complete", 4, 0, 0),  # a reused result: not trained here
    ("complete", 4, 2, 1),  # an older run that trained several epochs in one job keeps 1
]


def test_a_version_4_database_counts_attempts_as_tries_not_epochs(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    raw = sqlite3.connect(path)
    raw.executescript(VERSION_4)
    raw.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "4"), ("config", "{}")])
    for number, (state, epochs, attempts, _) in enumerate(V4_ATTEMPTS):
        row = list(_v3_row(number, HARDWARE, state))
        row[15] = attempts
        raw.execute(
            f"INSERT INTO trials ({V4_COLUMNS}) VALUES ({', '.join('?' * 21)})",
            (*row, epochs, f"arch-{number}"),
        )
    raw.commit()
    raw.close()
    with RunStorage.open(path) as storage:
        trials = storage.trials()
    assert [t.attempts for t in trials] == [today for *_, today in V4_ATTEMPTS]
    assert [t.epochs for t in trials] == [epochs for _, epochs, _, _ in V4_ATTEMPTS]
    with RunStorage.open(path) as storage:  # opened again: migrated once, not twice
        assert [t.attempts for t in storage.trials()] == [t.attempts for t in trials]


def _age_to_version_3(run_dir: Path) -> None:
    """A run folder of today, rewritten as coexplore stored runs before typed accuracy fields
    and precisions: schema 3 (accuracy, epochs, images and rung accuracies as floats in the
    metrics JSON) and the config's old keys (space.depth, hardware.precision, [frontier])."""
    db = run_dir / "run.db"
    new = sqlite3.connect(db)
    config = json.loads(new.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    config["space"]["depth"] = config["space"].pop("layers")
    config["hardware"]["precision"] = config["hardware"].pop("precisions")[0]
    config["frontier"] = config.pop("coexplore")
    fields = V3_COLUMNS + ", accuracy, epochs, val_images, rung_accuracies"
    rows = []
    for row in new.execute(f"SELECT {fields} FROM trials ORDER BY number"):
        *kept, accuracy, epochs, images, rungs = row
        metrics = json.loads(kept[8])
        if accuracy is not None:
            metrics |= {"accuracy": accuracy, "epochs": float(epochs)}
            metrics |= {f"accuracy_{e}ep": a for e, a in json.loads(rungs).items()}
        if images:
            metrics["val_images"] = float(images)
        kept[8] = json.dumps(metrics)
        rows.append(tuple(kept))
    checkpoints = new.execute("SELECT batch, blob, saved_at FROM checkpoints").fetchall()
    status = new.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0]
    new.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    old = sqlite3.connect(db)
    old.executescript(VERSION_3)
    meta = [("schema_version", "3"), ("config", json.dumps(config)), ("status", status)]
    old.executemany("INSERT INTO meta VALUES (?, ?)", meta)
    old.executemany(f"INSERT INTO trials ({V3_COLUMNS}) VALUES ({', '.join('?' * 19)})", rows)
    old.executemany("INSERT INTO checkpoints VALUES (?, ?, ?)", checkpoints)
    old.commit()
    old.close()


@pytest.mark.slow
def test_a_run_stored_before_typed_accuracy_and_precisions_resumes_and_reports(tmp_path):
    """A run folder of schema 3 with the old config keys, stopped after two batches, resumes
    to the end with today's code and reports: its accuracies (float, as measured then) keep
    their values, with the stored precision beside them."""
    import dataclasses
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "search"))
    from fake_training import fake_train

    from coexplore import wiring as run
    from coexplore.config import load_config, to_dict
    from coexplore.executors import LocalExecutor
    from coexplore.report import write_report
    from coexplore.search.loop import run_search

    class Stop(Exception):
        pass

    def two_batches(records: list) -> None:
        if records[-1].batch == 1:
            raise Stop

    overrides = {"run.trials": 16, "run.batch": 4, "spec.fps": 2000.0,
                 "run.strategy": "random", "hardware.precisions": ["fixed16"]}  # fmt: skip
    config = load_config("quick", overrides=overrides)
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    with RunStorage.create(run_dir / "run.db", to_dict(run.check_config(config))) as storage:
        storage.set_meta("status", "running")
        setup = dataclasses.replace(run.build_setup(config), train_fn=fake_train)
        with pytest.raises(Stop):
            run_search(setup, storage, LocalExecutor(), two_batches)
        before = {t.number: (t.accuracy, t.reward) for t in storage.trials()}
    _age_to_version_3(run_dir)
    with RunStorage.open(run_dir / "run.db") as storage:
        assert storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        aged = {t.number: (t.accuracy, t.reward) for t in storage.trials()}
        assert aged == before and len(aged) == 8
    result = run.resume(run_dir, LocalExecutor(), progress=False)
    assert result.summary["trials"] == 16
    with RunStorage.open(run_dir / "run.db") as storage:
        trials = storage.trials()
    assert {t.precision for t in trials} == {"fixed16"}
    assert {t.number: (t.accuracy, t.reward) for t in trials[:8]} == before
    assert all(t.float_accuracy == t.accuracy for t in trials[:8] if t.accuracy is not None)
    report = write_report(run_dir)
    assert "OptSW" in report.read_text()
