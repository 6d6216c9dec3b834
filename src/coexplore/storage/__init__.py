"""Run storage: one SQLite database per run holding trials, controller checkpoints and metadata."""

from coexplore.storage.records import StorageError, TrialRecord, TrialState
from coexplore.storage.sqlite import DB_NAME, KEEP_CHECKPOINTS, SCHEMA_VERSION, RunStorage

__all__ = [
    "DB_NAME",
    "KEEP_CHECKPOINTS",
    "SCHEMA_VERSION",
    "RunStorage",
    "StorageError",
    "TrialRecord",
    "TrialState",
]
