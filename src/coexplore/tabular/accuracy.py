"""The NAS-Bench-201 accuracy table and the training-free `train_fn` that reads it.

The CSV (NATS-Bench topology search space, MIT) is read from a path the user gives: an explicit
path (`--csv`), else `data.root` of the config, else $COEXPLORE_NB201_CSV. It is never copied
into the project. Rows are matched to the space by their `ArchitectureString` (the file's row
order is not the space's index order); accuracies are stored as fractions (the file has %).
`data.accuracy_column` chooses the column: cifar10 (default), cifar100 or imagenet16
(ImageNet16-120), each the test accuracy after 200 epochs. Where the file has NATS-Bench's
`UniqueString` column (NATS-Bench's canonical form of what a cell computes), the table also
keeps which cells compute the same network: NATS-Bench trained each of them separately, so their
accuracies differ only by training noise, and `network_means` gives each cell the mean over its
network's copies, what a user should expect from training that network.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.errors import InputError
from coexplore.spaces.nb201 import Nb201Arch

ENV_VAR = "COEXPLORE_NB201_CSV"
ARCH_COLUMN = "ArchitectureString"
COMPUTATION_COLUMN = "UniqueString"
COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16": "ImageNetTestAccuracy200Epochs",
}


@dataclass(frozen=True, eq=False)
class AccuracyTable:
    """Accuracy (a fraction) per architecture index; `indices` increasing."""

    indices: np.ndarray
    accuracy: np.ndarray
    source: str
    # [rows] which network each cell computes (equal ids: the same network, trained
    # separately); None where the file has no COMPUTATION_COLUMN
    computation: np.ndarray | None = None

    def lookup(self, index: int) -> float:
        row = int(np.searchsorted(self.indices, index))
        if row == len(self.indices) or self.indices[row] != index:
            raise InputError(f"{self.source}: no accuracy for architecture index {index}")
        return float(self.accuracy[row])


def network_means(table: AccuracyTable) -> AccuracyTable:
    """`table` with each cell's accuracy the mean over the cells that compute the same network
    (`computation`); unchanged where the file does not tell (every cell its own network).

    NAS-Bench-201's 15,625 cells are 6,466 networks by NATS-Bench's `UniqueString`, each trained
    once per cell: copies differ by training noise (up to 0.8 % on the true fronts), so a score
    by networks credits a search with the network it found, not with the copy's luck."""
    if table.computation is None:
        return table
    _, network = np.unique(table.computation, return_inverse=True)  # ids 0..networks-1
    means = np.bincount(network, weights=table.accuracy) / np.bincount(network)
    return dataclasses.replace(table, accuracy=means[network])


def csv_path(explicit: str | Path | None = None, root: str = "") -> Path:
    """Where the table is: the explicit path, else `root`, else the environment variable."""
    text = str(explicit or root or os.environ.get(ENV_VAR, ""))
    if not text:
        raise InputError(f"NAS-Bench-201 table: give its CSV path (--csv, data.root or ${ENV_VAR})")
    path = Path(text).expanduser()
    if not path.is_file():
        raise InputError(f"NAS-Bench-201 table: {path}: no such file")
    return path


def load_accuracy_table(path: Path, dataset: str = "cifar10") -> AccuracyTable:
    if dataset not in COLUMNS:
        raise InputError(
            f"NAS-Bench-201 table: unknown dataset {dataset!r}; valid: {', '.join(COLUMNS)}"
        )
    return _load(str(Path(path).resolve()), path.stat().st_mtime_ns, COLUMNS[dataset])


# What a wrong file's error says: what the table is and how to make one.
NOT_THE_TABLE = "not a NAS-Bench-201 accuracy table (make one with `coexplore nb201-table`)"


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, column: str) -> AccuracyTable:
    try:
        rows, has_computation = _read(path, column)
    except (UnicodeDecodeError, csv.Error) as exc:  # a binary file, a model, an archive
        kind = "csv.Error" if isinstance(exc, csv.Error) else type(exc).__name__
        raise InputError(f"{path}: {NOT_THE_TABLE}: {kind}") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    rows.sort()
    indices = np.array([r[0] for r in rows], dtype=np.int64)
    if len(np.unique(indices)) != len(indices):
        raise InputError(f"{path}: an architecture appears twice")
    computation = None
    if has_computation:
        ids: dict[str, int] = {}
        computation = np.array([ids.setdefault(r[2], len(ids)) for r in rows], dtype=np.int64)
    return AccuracyTable(indices, np.array([r[1] for r in rows]), path, computation)


def _read(path: str, column: str) -> tuple[list[tuple[int, float, str]], bool]:
    """The rows (index, accuracy, computation) and whether the file has COMPUTATION_COLUMN."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {ARCH_COLUMN, column} - set(reader.fieldnames or ())
        if missing:
            raise InputError(
                f"{path}: {NOT_THE_TABLE}: missing column(s) {', '.join(sorted(missing))}"
            )
        has_computation = COMPUTATION_COLUMN in (reader.fieldnames or ())
        rows = [
            (*_row(path, number, row, column), row[COMPUTATION_COLUMN] if has_computation else "")
            for number, row in enumerate(reader, start=2)
        ]
    return rows, has_computation


def _row(path: str, line: int, row: dict[str, str], column: str) -> tuple[int, float]:
    try:
        index = Nb201Arch.from_string(row[ARCH_COLUMN]).index
        accuracy = float(row[column]) / 100.0
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}:{line}: {exc}") from None
    if not 0.0 <= accuracy <= 1.0:
        raise InputError(f"{path}:{line}: accuracy {row[column]} is not a percentage")
    return index, accuracy


@dataclass(frozen=True)
class TableTrainer:
    """A `SearchSetup.train_fn` that looks the child's accuracy up instead of training it.
    The table holds float accuracies only: at every precision a child is scored at, it has its
    table accuracy (on NAS-Bench-201 precision is a hardware choice, docs/fixed-point.md).

    Picklable (a path, not the table), so any executor can run it."""

    path: str
    dataset: str = "cifar10"

    def __call__(self, job: Any) -> Any:
        from coexplore.slow.jobs import JobResult
        from coexplore.slow.trainer import TrainResult

        start = time.perf_counter()
        acc = self._lookup(job.arch_json)
        scored = dict.fromkeys(job.precisions, acc)  # the table's float accuracy (docstring)
        seconds = time.perf_counter() - start
        return JobResult(TrainResult(True, acc, (acc,), (0.0,), seconds, 200), accuracy_at=scored)

    def score(self, job: Any) -> Any:
        """A `SearchSetup.score_fn`: the table's accuracy at every precision asked."""
        from coexplore.slow.jobs import ScoreResult

        return ScoreResult(dict.fromkeys(job.precisions, self._lookup(job.arch_json)), 0, 0.0)

    def _lookup(self, arch_json: dict[str, Any]) -> float:
        arch = Nb201Arch.from_string(arch_json["arch"])
        return load_accuracy_table(Path(self.path), self.dataset).lookup(arch.index)


def table_trainer(config: Any) -> TableTrainer:
    """The train_fn of a run whose `data.dataset` is "nb201_table" (checked now, one line)."""
    if config.space.name != "nb201":
        raise InputError(
            f"data.dataset nb201_table needs space.name 'nb201', not {config.space.name!r}"
        )
    path = csv_path(None, config.data.root)
    column = config.data.accuracy_column
    load_accuracy_table(path, column)  # a bad file is reported before the search starts
    return TableTrainer(str(path), column)
