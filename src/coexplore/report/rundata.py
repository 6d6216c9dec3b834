"""A run folder opened for reading only: config, trials, picks, and designs re-evaluated.

The database is opened with a read-only SQLite connection (``mode=ro``), so a report or an
export never writes to a run, and works while a search is still writing it (WAL lets readers
and one writer share the file) or after the search was killed (the log is read as it stands).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from coexplore.config import Config, parse_config
from coexplore.errors import InputError
from coexplore.hardware.devices import Pool, Precision, Spec
from coexplore.hardware.pipeline import Evaluation, HardwareDesign, evaluate_design
from coexplore.problem import dataset_shape, make_pool, make_space, make_spec
from coexplore.results.picks import Picks, pick
from coexplore.storage import (
    DB_NAME,
    SCHEMA_VERSION,
    RunStorage,
    StorageError,
    TrialRecord,
    TrialState,
)
from coexplore.workload import Workload

BUSY_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class RunView:
    """What a run holds right now. Trials are ordered by number; a partial run has fewer."""

    run_dir: Path
    config: Config
    trials: tuple[TrialRecord, ...]
    status: str  # "finished", "running" (still going, or killed), "stopped" (early), "unknown"

    @property
    def name(self) -> str:
        return self.run_dir.resolve().name

    @cached_property
    def picks(self) -> Picks:
        return pick(list(self.trials), self.config.reward.metric, self.config.picks.accuracy_gap)

    @cached_property
    def pool(self) -> Pool:
        return make_pool(self.config)

    @property
    def spec(self) -> Spec:
        return make_spec(self.config)

    @property
    def precision(self) -> Precision:
        return Precision(self.config.hardware.precisions[0])

    def trial(self, number: int) -> TrialRecord:
        """The stored trial ``number``; ValueError naming the trials there are."""
        found = [t for t in self.trials if t.number == number]
        if not found:
            have = f"0..{self.trials[-1].number}" if self.trials else "none yet"
            raise InputError(f"no trial {number} in {self.run_dir} (trials stored: {have})")
        return found[0]

    def workload(self, arch_json: dict[str, Any]) -> Workload:
        """The workload the search evaluated for this architecture (the run's space and data)."""
        space = make_space(self.config)
        shape, classes = self.data_shape
        return space.workload(space.from_json(arch_json), shape, classes)

    @cached_property
    def data_shape(self) -> tuple[tuple[int, int, int], int]:
        """(input shape, number of classes) of the run's dataset."""
        return dataset_shape(self.config)

    def evaluation(self, trial: TrialRecord) -> Evaluation | None:
        """The stored design of ``trial`` evaluated again on the run's pool; None without one."""
        if trial.hardware is None:
            return None
        design = HardwareDesign.from_json(trial.hardware)
        return evaluate_design(self.workload(trial.arch), design, self.pool, self.spec)


def open_run(run_dir: Path) -> RunView:
    """Read a run folder without writing to it; StorageError (one line) when it cannot."""
    path = Path(run_dir) / DB_NAME
    if not path.is_file():
        raise StorageError(f"{run_dir}: no run database ({DB_NAME}) here")
    storage = RunStorage(path, _read_only_connection(path), BUSY_TIMEOUT_SECONDS)
    with storage:
        version = storage.get_meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StorageError(
                f"{path}: schema version {version}, this coexplore reads {SCHEMA_VERSION}"
            )
        config = parse_config({name: dict(values) for name, values in storage.config().items()})
        trials = [t for t in storage.trials() if t.state is not TrialState.RUNNING]
        status = storage.get_meta("status") or "unknown"
    return RunView(Path(run_dir), config, tuple(trials), status)


def _read_only_connection(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot open read-only: {exc}") from exc
