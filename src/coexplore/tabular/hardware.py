"""The hardware table: the best design of every architecture of a tabular space on one pool.

NAS-Bench-201 at 3x32x32 on 2xXC7Z020+1xXC7A50T: the workloads have 43-148 layers; the whole
table takes about 180 s of CPU (about 11 ms per cell, cells with the same workload solved once;
see docs/hardware.md).
Decided: no coarsening. Pipeline cuts stay allowed after every layer, so the table equals what
`coexplore estimate` and a search compute; the table is built once with worker processes
(tabular/workers.py), saved chunk by chunk so that a stopped build continues, and cached in an
.npz under `cache_dir()` (default ~/.cache/coexplore, or $COEXPLORE_CACHE), named by a digest of
everything the result depends on.

Designs are computed without a spec: the explorer maximises FPS whatever the spec, so the design
for any throughput-only spec is the same and only the verdict (meets it or not) changes.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import as_completed
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
from coexplore.tabular.workers import workers_pool

MODEL_VERSION = "1"  # bump for a change of meaning the sources below do not show
# The model's sources are part of the cache key, so editing the model invalidates old tables.
# The optimiser's own code is not: it is exact, so its answer does not depend on it.
MODEL_SOURCES = (
    "workload.py",
    "hardware/accelerator.py",
    "hardware/devices.py",  # the power formula and DSP packing live there
    "hardware/pipeline.py",
    "fast/grid.py",
    "spaces/nb201_cell.py",  # the NB201 cells' live graphs (the space's own file is added below)
)
METRICS = ("fps", "gops_per_w", "pipeline_efficiency", "power_w", "latency_ms")
_TILING = ("tm", "tn", "tr", "tc", "ip", "wp", "op")
_STAGE_COLUMNS = 3 + len(_TILING)  # device kind, first layer, last layer, then the tiling
Say = Callable[[str], None]
CHUNK_ROWS = 200  # rows per task: a few seconds of work, saved as soon as it is done


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
    """Compute the rows for `indices` in this process.

    One explorer per problem is kept for the life of the process (its memo tables serve every
    later chunk), and architectures whose workloads are the same layer shapes and skips (NB201
    has 5,199 distinct ones among 15,625 cells: a cell keeps only its live ops, in its live
    graph's canonical order) are solved once."""
    explorer, solved = _explorer_for(problem)
    kinds = [d.name for d in problem.pool.kinds]
    metrics = {m: np.zeros(len(indices)) for m in METRICS}
    stages = np.full((len(indices), len(problem.pool.devices), _STAGE_COLUMNS), -1, np.int64)
    for row, index in enumerate(indices):
        arch = arch_at(problem.space, int(index))
        workload = problem.space.workload(arch, problem.input_shape, problem.classes)
        signature = (tuple(layer.shape_key() for layer in workload.layers), workload.skips)
        if signature not in solved:
            solved[signature] = _row(explorer.explore(workload), kinds, len(problem.pool.devices))
        values, design = solved[signature]
        for name, value in zip(METRICS, values, strict=True):
            metrics[name][row] = value
        stages[row] = design
    return HardwareTable(np.asarray(indices, np.int64), metrics, stages)


_EXPLORERS: dict[str, tuple[OptimalExplorer, dict[object, tuple[tuple[float, ...], Any]]]] = {}


def _explorer_for(
    problem: HardwareProblem,
) -> tuple[OptimalExplorer, dict[object, tuple[tuple[float, ...], Any]]]:
    key = repr((problem.pool, problem.precision, problem.input_shape, problem.classes))
    if key not in _EXPLORERS:
        _EXPLORERS.clear()  # one problem at a time: memo tables are large
        _EXPLORERS[key] = (OptimalExplorer(problem.pool, Spec(), problem.precision), {})
    return _EXPLORERS[key]


def _row(result: FastResult, kinds: list[str], slots: int) -> tuple[tuple[float, ...], Any]:
    """(metrics in METRICS order, stages rows) of one result; zeros and -1 when no design."""
    stages = np.full((slots, _STAGE_COLUMNS), -1, np.int64)
    if result.design is None or result.evaluation is None:
        return tuple(0.0 for _ in METRICS), stages
    values = result.evaluation.metrics()
    for slot, s in enumerate(result.design.stages):
        tiling = [getattr(s.tiling, name) for name in _TILING]
        stages[slot] = (kinds.index(s.device), s.first_layer, s.last_layer, *tiling)
    return tuple(values[name] for name in METRICS), stages


def _chunk_rows(args: tuple[HardwareProblem, np.ndarray]) -> HardwareTable:
    return table_rows(*args)


def build_table(
    problem: HardwareProblem,
    indices: np.ndarray,
    workers: int = 2,
    say: Say | None = None,
    progress: Path | None = None,
) -> HardwareTable:
    """All rows, computed by `workers` processes (1: in this process), reporting progress.

    With a `progress` folder, every finished chunk is saved there at once and rows already
    there are not computed again: a build that was stopped continues where it stopped."""
    done = _load_parts(progress, indices) if progress else []
    computed = np.concatenate([p.indices for p in done]) if done else np.zeros(0, np.int64)
    todo = np.setdiff1d(indices, computed)
    if say and done:
        say(f"hardware table: {len(computed):,} rows kept from an earlier build in {progress}")
    size = max(1, min(CHUNK_ROWS, math.ceil(len(todo) / (4 * max(1, workers)))))
    jobs = [(problem, todo[i : i + size]) for i in range(0, len(todo), size)]

    def keep(part: HardwareTable) -> None:
        if progress:
            digest = hashlib.sha1(part.indices.tobytes()).hexdigest()[:12]
            part.save(progress / f"rows-{int(part.indices[0])}-{digest}.npz")
        done.append(part)
        if say:
            say(f"hardware table: {sum(len(p.indices) for p in done):,}/{len(indices):,} designs")

    if workers <= 1:
        for job in jobs:
            keep(_chunk_rows(job))
    else:
        with workers_pool(workers) as pool:
            for future in as_completed([pool.submit(_chunk_rows, job) for job in jobs]):
                keep(future.result())
    order = np.argsort(np.concatenate([p.indices for p in done]), kind="stable")
    return HardwareTable(
        np.concatenate([p.indices for p in done])[order],
        {m: np.concatenate([p.metrics[m] for p in done])[order] for m in METRICS},
        np.concatenate([p.stages for p in done])[order],
    )


def _load_parts(folder: Path, wanted: np.ndarray) -> list[HardwareTable]:
    """Saved chunks of an earlier build (a part that cannot be read is computed again)."""
    parts = []
    for path in sorted(folder.glob("rows-*.npz")):
        try:
            part = HardwareTable.load(path)
        except (OSError, ValueError, KeyError):
            continue
        if np.isin(part.indices, wanted).all():
            parts.append(part)
    return parts


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
    progress = path.with_suffix(".parts")
    table = build_table(problem, wanted, workers, say, progress)
    table.save(path)
    shutil.rmtree(progress, ignore_errors=True)
    return table
