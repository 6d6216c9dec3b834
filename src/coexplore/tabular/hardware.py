"""The hardware table: the best design of every architecture of a tabular space on one pool.

Profile (NAS-Bench-201 at 3x32x32 on 2xXC7Z020+1xXC7A50T, one core): the workloads have 73-148
layers and the exact explorer takes about 0.07 s per cell once its memo tables are warm, so the
15,625 cells take about 19 CPU-minutes. Decided: no coarsening. Pipeline cuts stay allowed after
every layer, so the table equals what `coexplore estimate` and a search compute; instead the
table is built once with a process pool and cached in an .npz under `cache_dir()` (default
~/.cache/coexplore, or $COEXPLORE_CACHE), named by a digest of everything the result depends on.

Designs are computed without a spec: the explorer maximises FPS whatever the spec, so the design
for any throughput-only spec is the same and only the verdict (meets it or not) changes.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.fast.optimal import FastResult, OptimalExplorer
from coexplore.hardware.accelerator import Tiling
from coexplore.hardware.devices import Pool, Precision, Spec
from coexplore.hardware.pipeline import HardwareDesign, StageDesign
from coexplore.spaces.base import SearchSpace
from coexplore.tabular.indexing import arch_at

MODEL_VERSION = "1"  # bump for a change of meaning the sources below do not show
# The model's sources are part of the cache key, so editing the model invalidates old tables.
# The optimiser's own code is not: it is exact, so its answer does not depend on it.
MODEL_SOURCES = (
    "workload.py",
    "hardware/accelerator.py",
    "hardware/devices.py",  # the power formula and DSP packing live there
    "hardware/pipeline.py",
    "fast/grid.py",
)
METRICS = ("fps", "gops_per_w", "pipeline_efficiency", "power_w", "latency_ms")
_TILING = ("tm", "tn", "tr", "tc", "ip", "wp", "op")
_STAGE_COLUMNS = 3 + len(_TILING)  # device kind, first layer, last layer, then the tiling
Say = Callable[[str], None]


def cache_dir() -> Path:
    return Path(os.environ.get("COEXPLORE_CACHE", "~/.cache/coexplore")).expanduser()


@dataclass(frozen=True)
class HardwareProblem:
    """Everything a hardware table depends on."""

    space: SearchSpace[Any]
    pool: Pool
    precision: Precision
    input_shape: tuple[int, int, int]
    classes: int

    def digest(self, indices: np.ndarray) -> str:
        parts = (
            MODEL_VERSION,
            _sources_digest(type(self.space)),
            self.space,
            self.pool,
            self.precision.value,
            self.input_shape,
            self.classes,
            hashlib.sha1(indices.astype(np.int64).tobytes()).hexdigest(),
        )
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _sources_digest(space_type: type) -> str:
    package = Path(__file__).resolve().parents[1]
    files = [package / name for name in MODEL_SOURCES] + [Path(inspect.getfile(space_type))]
    return hashlib.sha1(b"".join(f.read_bytes() for f in files)).hexdigest()


@dataclass(frozen=True, eq=False)
class HardwareTable:
    """Per architecture (rows in increasing index): its metrics and its design.

    Metrics are 0 for an architecture no design of the pool can run (`stages` row all -1)."""

    indices: np.ndarray  # [rows] architecture index
    metrics: dict[str, np.ndarray]  # name -> [rows]
    stages: np.ndarray  # [rows, pool size, _STAGE_COLUMNS], -1 past a design's last stage

    def row_of(self, index: int) -> int | None:
        row = int(np.searchsorted(self.indices, index))
        return row if row < len(self.indices) and self.indices[row] == index else None

    def design(self, row: int, pool: Pool, precision: Precision) -> HardwareDesign | None:
        kinds = pool.kinds
        stages = tuple(
            StageDesign(kinds[s[0]].name, int(s[1]), int(s[2]), Tiling(*(int(v) for v in s[3:])))
            for s in self.stages[row]
            if s[0] >= 0
        )
        return HardwareDesign(stages, precision) if stages else None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        arrays: dict[str, Any] = {"indices": self.indices, "stages": self.stages, **self.metrics}
        np.savez_compressed(partial, **arrays)
        partial.replace(path)  # never leave a half-written cache behind

    @classmethod
    def load(cls, path: Path) -> HardwareTable:
        with np.load(path) as data:
            return cls(data["indices"], {m: data[m] for m in METRICS}, data["stages"])


def table_rows(problem: HardwareProblem, indices: np.ndarray) -> HardwareTable:
    """Compute the rows for `indices` in this process."""
    explorer = OptimalExplorer(problem.pool, Spec(), problem.precision)
    kinds = [d.name for d in problem.pool.kinds]
    metrics = {m: np.zeros(len(indices)) for m in METRICS}
    stages = np.full((len(indices), len(problem.pool.devices), _STAGE_COLUMNS), -1, np.int64)
    for row, index in enumerate(indices):
        arch = arch_at(problem.space, int(index))
        workload = problem.space.workload(arch, problem.input_shape, problem.classes)
        _store(explorer.explore(workload), kinds, row, metrics, stages)
    return HardwareTable(np.asarray(indices, np.int64), metrics, stages)


def _store(
    result: FastResult,
    kinds: list[str],
    row: int,
    metrics: dict[str, np.ndarray],
    stages: np.ndarray,
) -> None:
    if result.design is None or result.evaluation is None:
        return
    values = result.evaluation.metrics()
    for name in METRICS:
        metrics[name][row] = values[name]
    for slot, s in enumerate(result.design.stages):
        tiling = [getattr(s.tiling, name) for name in _TILING]
        stages[row, slot] = (kinds.index(s.device), s.first_layer, s.last_layer, *tiling)


def _chunk_rows(args: tuple[HardwareProblem, np.ndarray]) -> HardwareTable:
    return table_rows(*args)


def build_table(
    problem: HardwareProblem, indices: np.ndarray, workers: int = 2, say: Say | None = None
) -> HardwareTable:
    """All rows, computed by `workers` processes (1: in this process), reporting progress."""
    size = max(1, min(500, math.ceil(len(indices) / (4 * max(1, workers)))))
    jobs = [(problem, indices[i : i + size]) for i in range(0, len(indices), size)]
    if workers <= 1:
        parts = _collect(map(_chunk_rows, jobs), len(indices), say)
    else:
        context = multiprocessing.get_context("spawn")  # no fork of a process holding torch
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = _collect(pool.map(_chunk_rows, jobs), len(indices), say)
    return HardwareTable(
        np.concatenate([p.indices for p in parts]),
        {m: np.concatenate([p.metrics[m] for p in parts]) for m in METRICS},
        np.concatenate([p.stages for p in parts]),
    )


def _collect(parts: Any, total: int, say: Say | None) -> list[HardwareTable]:
    out: list[HardwareTable] = []
    for part in parts:
        out.append(part)
        if say:
            say(f"hardware table: {sum(len(p.indices) for p in out):,}/{total:,} architectures")
    return out


def load_or_build(
    problem: HardwareProblem,
    indices: np.ndarray | None = None,
    folder: Path | None = None,
    workers: int = 2,
    say: Say | None = None,
) -> HardwareTable:
    """The cached table for `indices` (default: the whole space), built and saved if missing."""
    wanted = np.unique(np.arange(problem.space.size()) if indices is None else indices)
    path = (folder or cache_dir()) / f"{problem.space.name}-hw-{problem.digest(wanted)}.npz"
    if path.exists():
        if say:
            say(f"hardware table: cached in {path}")
        return HardwareTable.load(path)
    if say:
        say(
            f"hardware table: computing {len(wanted):,} designs with {workers} process(es) "
            f"into {path}"
        )
    table = build_table(problem, wanted, workers, say)
    table.save(path)
    return table
