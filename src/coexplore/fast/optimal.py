"""The exact fast exploration (`optimal` mode): the best hardware design for a workload.

Best means: highest FPS; among equal FPS, lowest total power (so highest GOPS/W). Exact over
the design space of `TilingSpace` (devices of the pool, contiguous partitions, per-FPGA tiling
and port split); tests check it against brute force.

How it stays fast (lazy DP over valid lower bounds, see `_refine`, and branch and bound):
- per-layer cycle tables over a device's whole tiling grid are memoised per (layer shape,
  device), with their minimum over port splits per <Tm, Tn, T> block; a stage sums its tables
  once per distinct shape (fast/stages.py);
- every stage gets a group bound at once: the best over PE arrays (Tm, Tn) of the summed
  per-layer best within that array; the DP solves on these, and only the stages of the best
  plan are evaluated exactly (blocks in bound order, stopping when no block can do better),
  until the best plan uses exact values only;
- the least-power pass does the same with a per-stage power bound: the least power of a PE
  array whose group bound meets the interval.

The memo tables of each device kind (cycle tables by layer shape, fit and power per buffer
window, skylines) are a `DeviceTables` (fast/device_tables.py), kept between workloads;
`Stages` queries them through its public methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coexplore.fast import dp
from coexplore.fast.device_tables import DeviceTables
from coexplore.fast.grid import TilingGrid, TilingSpace
from coexplore.fast.shapes import LayerShapes
from coexplore.fast.stages import TIE, Pick, Stages, stage_windows, window_groups
from coexplore.hardware.accelerator import over_budget, stage_resources, window_limits
from coexplore.hardware.devices import Pool, Precision, Spec
from coexplore.hardware.pipeline import (
    Evaluation,
    HardwareDesign,
    StageDesign,
    evaluate_design,
    spec_problem,
)
from coexplore.workload import Workload

_TIE = TIE


@dataclass(frozen=True)
class FastResult:
    """The outcome of fast exploration: a design that meets the spec, or the reason none does.

    A design that misses only the spec is still returned (with its evaluation) when one was
    computed, so a hardware-afterwards baseline can report it.
    """

    design: HardwareDesign | None
    evaluation: Evaluation | None
    reason: str
    seconds: float

    @property
    def pruned(self) -> bool:
        return bool(self.reason)


class OptimalExplorer:
    """Exact best design for workloads on one pool; keeps its memo tables between calls."""

    def __init__(
        self,
        pool: Pool,
        spec: Spec | None = None,
        precision: Precision = Precision.FIXED16,
        space: TilingSpace | None = None,
    ) -> None:
        self.pool, self.spec, self.precision = pool, spec or Spec(), precision
        self.grids = [TilingGrid.build(d, precision, space or TilingSpace()) for d in pool.kinds]
        # per device kind of the pool (in `pool.kinds` order): its memo tables, the interface
        # `Stages` queries (fast/device_tables.py)
        self.device_tables = [DeviceTables(g, self.pool.fill) for g in self.grids]

    def explore(self, workload: Workload, spec: Spec | None = None) -> FastResult:
        start = time.perf_counter()
        spec = spec or self.spec
        design, reason = self._solve(workload, spec)
        evaluation = evaluate_design(workload, design, self.pool) if design else None
        if evaluation is not None and not reason:
            reason = spec_problem(evaluation, spec) or evaluation.reason
        return FastResult(design, evaluation, reason, time.perf_counter() - start)

    # -- the search ---------------------------------------------------------------------------

    def _solve(self, workload: Workload, spec: Spec) -> tuple[HardwareDesign | None, str]:
        windows, shapes = stage_windows(workload), LayerShapes.of(workload)
        links = cut_link_seconds(workload, self.pool.link_gbps, self.precision)
        counts, most = self.pool.counts, spec.max_fpgas or len(self.pool.devices)
        groups = window_groups(windows)
        searches = [Stages(t, shapes, windows, groups) for t in self.device_tables]

        loose = np.stack([s.group_bounds() for s in searches])
        first = dp.solve(np.maximum(loose, links), counts, most, np.maximum)
        if not np.isfinite(first.value):
            return None, self._no_fit_reason(workload) or "no pipeline over the pool fits"
        if spec.fps and 1.0 / first.value < spec.fps / _TIE:
            return None, f"at most {1.0 / first.value:.1f} FPS (bound) < spec {spec.fps:g} FPS"

        if spec.latency_ms is None:
            ii = _refine(
                loose,
                (lambda k, i, j: searches[k].fastest(i, j),),
                lambda v: dp.solve(np.maximum(v, links), counts, most, np.maximum),
            )
        else:
            ii = self._best_ii_with_latency(searches, loose, links, (counts, most), spec)
        if not np.isfinite(ii.value):
            return None, self._no_fit_reason(workload) or "no pipeline meets the latency spec"

        picks: dict[tuple[int, int, int], Pick] = {}

        def cheapest(k: int, i: int, j: int) -> float:
            pick = searches[k].cheapest(i, j, ii.value)
            if pick is None:
                return np.inf
            picks[(k, i, j)] = pick
            return pick.power_w

        wanted = np.maximum(loose, links) <= ii.value * _TIE
        least = np.stack(
            [s.least_power_bounds(ii.value, w) for s, w in zip(searches, wanted, strict=True)]
        )
        plan = _refine(least, (cheapest,), lambda v: dp.solve(v, counts, most, np.add))
        design = self._design(plan if plan.stages else ii, picks, searches)
        too_slow = (
            spec.latency_ms is not None
            and plan.stages
            and (evaluate_design(workload, design, self.pool).latency_ms > spec.latency_ms * _TIE)
        )
        if too_slow:
            design = self._design(ii, {}, searches)  # the fastest tilings meet the bound
        return design, ""

    def _best_ii_with_latency(
        self, searches, loose, links, limits: tuple[tuple[int, ...], int], spec
    ) -> dp.Plan:
        """Lowest initiation interval whose fastest pipeline meets the latency bound
        (binary search over candidate interval values; every finite stage timed exactly)."""
        times = np.full(loose.shape, np.inf)
        for k, i, j in zip(*np.nonzero(np.isfinite(loose)), strict=True):
            times[k, i, j] = searches[k].fastest(int(i), int(j))
        staged = np.maximum(times, links)
        latency = times + links
        candidates = np.unique(staged[np.isfinite(staged)])
        best, lo, hi = dp.Plan(np.inf, ()), 0, len(candidates) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            capped = np.where(staged <= candidates[mid], latency, np.inf)
            plan = dp.solve(capped, limits[0], limits[1], np.add)
            if 1e3 * plan.value <= spec.latency_ms * _TIE:
                best, hi = dp.Plan(float(candidates[mid]), plan.stages), mid - 1
            else:
                lo = mid + 1
        return best

    def _design(
        self, plan: dp.Plan, picks: dict[tuple[int, int, int], Pick], searches: list[Stages]
    ) -> HardwareDesign:
        """Turn a plan into a design (stages without a pick: fastest, then least-power tiling)."""
        out = []
        for k, i, j in plan.stages:
            pick = picks.get((k, i, j)) or searches[k].cheapest(i, j, searches[k].fastest(i, j))
            assert pick is not None  # the plan only uses stages with a finite time
            grid = self.grids[k]
            row = pick.block * grid.n_splits + pick.split
            out.append(StageDesign(grid.device.name, i, j, grid.tiling(row)))
        return HardwareDesign(tuple(out), self.precision)

    def _no_fit_reason(self, workload: Workload) -> str:
        for index, layer in enumerate(workload.layers):
            window = window_limits((layer,))
            if not any(t.fit(window)[0].any() for t in self.device_tables):
                grid = self.grids[0]
                why = over_budget(
                    stage_resources(grid.tiling(0), (layer,), self.precision, grid.device),
                    grid.device,
                    self.precision,
                )
                return f"layer {index} ({layer.kind}, K={layer.kernel_text}) fits no device: {why}"
        return ""


def cut_link_seconds(workload: Workload, link_gbps: float, precision: Precision) -> np.ndarray:
    """[layer]: `link_seconds` of a cut after each layer (0 after the last), every cut at once.

    A cut after layer a carries a's output and that of every skip (p, c) with p < a < c
    (hardware/pipeline.py via `Workload.boundary_words`): added over [p + 1, c - 1] with a
    difference array, in whole words (exact), then the same float division per cut."""
    n = len(workload)
    words = np.array([layer.output_words for layer in workload.layers], dtype=np.int64)
    crossing = np.zeros(n + 1, dtype=np.int64)
    for producer, consumer in workload.skips:
        crossing[producer + 1] += words[producer]
        crossing[consumer] -= words[producer]
    bits = (words + np.cumsum(crossing[:n])) * precision.word_bits
    seconds = bits / (link_gbps * 1e9)
    seconds[-1] = 0.0
    return seconds


def _refine(
    bounds: np.ndarray,
    levels: tuple[Callable[[int, int, int], float], ...],
    solve: Callable[[np.ndarray], dp.Plan],
) -> dp.Plan:
    """Lazy exact DP over lower bounds. Solve; raise each stage of the best plan one level
    (cheap bound -> tighter bound -> exact value); repeat until the best plan uses exact values
    only. Every value is a lower bound of the exact one, so then no other plan can beat it."""
    values, level = bounds.copy(), np.zeros(bounds.shape, dtype=np.int8)
    while True:
        plan = solve(values)
        todo = [(k, i, j) for k, i, j in plan.stages if level[k, i, j] < len(levels)]
        if not todo:
            return plan
        for k, i, j in todo:
            values[k, i, j] = max(values[k, i, j], levels[level[k, i, j]](k, i, j))
            level[k, i, j] += 1
