"""The exact fast exploration (`optimal` mode): the best hardware design for a workload.

Best means: highest FPS; among equal FPS, lowest total power (so highest GOPS/W). Exact over
the design space of `TilingSpace` (devices of the pool, contiguous partitions, per-FPGA tiling
and port split); tests check it against brute force.

How it stays fast (branch and bound, three levels, all bounds valid lower bounds):
- per-layer cycle tables over a device's whole tiling grid are memoised per (layer shape,
  device), with their minimum over port splits per <Tm, Tn, T> block;
- a stage's loose bound is the sum of its layers' own best times; a DP on those bounds gives a
  plan whose exact evaluation is an upper bound U on the best initiation interval;
- only stages whose loose bound is <= U get a block bound (sum over layers of the per-block
  split minimum), and only blocks whose bound is <= U are evaluated exactly over their splits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coexplore.fast import dp
from coexplore.fast.grid import TilingGrid, TilingSpace
from coexplore.fast.stages import TIE, Pick, Stages
from coexplore.hardware.accelerator import layer_cycles, over_budget, resources, window_limits
from coexplore.hardware.devices import Pool, Precision, Spec
from coexplore.hardware.pipeline import (
    Evaluation,
    HardwareDesign,
    StageDesign,
    evaluate_design,
    link_seconds,
    spec_problem,
)
from coexplore.workload import Layer, Workload

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
        self._hz = [d.clock_mhz * 1e6 for d in pool.kinds]
        self._factored = [g.factored() for g in self.grids]
        self._tables: dict[tuple[int, tuple[object, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self._fits: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._orders: dict[tuple[int, int, int], np.ndarray] = {}
        self._lanes: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

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
        n = len(workload)
        windows = _group_windows(workload)
        links = np.array(
            [link_seconds(workload, j, self.pool.link_gbps, self.precision) for j in range(n - 1)]
            + [0.0]
        )
        counts, most = self.pool.counts, spec.max_fpgas or len(self.pool.devices)
        searches = [Stages(self, k, workload, windows) for k in range(len(self.grids))]

        loose = self._loose_bounds(workload)
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

        least = self._least_power_bounds(workload, windows, ii.value)
        least[:, :, links > ii.value * _TIE] = np.inf
        least[np.maximum(loose, links) > ii.value * _TIE] = np.inf
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

    def _least_power_bounds(self, workload: Workload, windows: np.ndarray, ii: float) -> np.ndarray:
        """[k, i, j]: a lower bound on the power of stage i..j on kind k within time ii.

        A stage's time on a block is at least its MACs / (Tm Tn clock) (every layer kind does at
        most Tm x Tn MACs per cycle), so only blocks with enough lanes can qualify: the bound is
        the least power among fitting blocks with Tm Tn >= MACs / (ii clock).
        """
        n = windows.shape[0]
        out = np.full((len(self.grids), n, n), np.inf)
        first, last = np.triu_indices(n)
        macs = np.concatenate([[0], np.cumsum([layer.macs for layer in workload.layers])])
        stage_macs = (macs[last + 1] - macs[first]).astype(np.float64)
        staged = windows[first, last]
        for window in np.unique(staged, axis=0):
            rows = np.all(staged == window, axis=1)
            for k in range(len(self.grids)):
                lanes, suffix_min = self._lanes_power(k, int(window[0]), int(window[1]))
                need = stage_macs[rows] / (ii * self._hz[k] * _TIE)
                at = np.searchsorted(lanes, need, side="left")
                padded = np.append(suffix_min, np.inf)
                out[k, first[rows], last[rows]] = padded[at]
        return out

    def _lanes_power(self, k: int, kmax: int, smax: int) -> tuple[np.ndarray, np.ndarray]:
        """Fitting blocks' Tm x Tn, sorted, with the least power among blocks of >= that many."""
        key = (k, kmax, smax)
        if key not in self._lanes:
            fits, power = self._fit(k, kmax, smax)
            blocks = self.grids[k].blocks()
            lanes = (blocks.tm * blocks.tn)[fits].astype(np.float64)
            order = np.argsort(lanes, kind="stable")
            suffix = np.minimum.accumulate(power[fits][order][::-1])[::-1]
            self._lanes[key] = (lanes[order], suffix)
        return self._lanes[key]

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

    def _table(self, k: int, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
        """(cycles per tiling as [block, split], cycles per block at its best split)."""
        key = (k, layer.shape_key())
        if key not in self._tables:
            grid = self._factored[k]
            cycles = np.asarray(layer_cycles(layer, grid, self.pool.fill), dtype=np.float64)
            cycles = np.broadcast_to(cycles, (self.grids[k].n_blocks, self.grids[k].n_splits))
            self._tables[key] = (cycles, cycles.min(axis=1))
        return self._tables[key]

    def _fit(self, k: int, kmax: int, smax: int) -> tuple[np.ndarray, np.ndarray]:
        """(fits the device, power in W) per block of device k, buffers sized for kmax, smax."""
        key = (k, int(kmax), int(smax))
        if key not in self._fits:
            blocks = self.grids[k].blocks()
            device = blocks.device
            res = resources(blocks, kmax, smax, self.precision, device)
            fits = (res.bram18k <= device.bram18k) & (res.uram <= device.uram)
            fits = np.asarray(fits & (res.luts <= device.luts) & (res.ffs <= device.ffs), bool)
            power = np.asarray(device.power_w(res), dtype=np.float64)
            self._fits[key] = (fits, power)
        return self._fits[key]

    def _power_order(self, k: int, kmax: int, smax: int) -> np.ndarray:
        """Blocks that fit, by increasing power (stable: ties keep block order)."""
        key = (k, int(kmax), int(smax))
        if key not in self._orders:
            fits, power = self._fit(k, kmax, smax)
            blocks = np.flatnonzero(fits)
            self._orders[key] = blocks[np.argsort(power[blocks], kind="stable")]
        return self._orders[key]

    def _loose_bounds(self, workload: Workload) -> np.ndarray:
        """loose[k, i, j]: sum over layers i..j of each layer's own best time on kind k."""
        n = len(workload)
        loose = np.full((len(self.grids), n, n), np.inf)
        for k in range(len(self.grids)):
            best = (
                np.array(
                    [
                        _masked_min(
                            self._table(k, layer)[1], self._fit(k, *window_limits((layer,)))[0]
                        )
                        for layer in workload.layers
                    ]
                )
                / self._hz[k]
            )
            finite = np.concatenate([[0.0], np.cumsum(np.where(np.isinf(best), 0.0, best))])
            misfits = np.concatenate([[0], np.cumsum(np.isinf(best))])
            sums = finite[None, 1:] - finite[:n, None]
            loose[k] = np.where(misfits[None, 1:] > misfits[:n, None], np.inf, sums)
        return dp.upper_triangle(loose)

    def _no_fit_reason(self, workload: Workload) -> str:
        for index, layer in enumerate(workload.layers):
            kmax, smax = window_limits((layer,))
            if not any(self._fit(k, kmax, smax)[0].any() for k in range(len(self.grids))):
                grid = self.grids[0]
                why = over_budget(
                    resources(grid.tiling(0), kmax, smax, self.precision, grid.device),
                    grid.device,
                    self.precision,
                )
                return f"layer {index} ({layer.kind}, K={layer.kernel}) fits no device: {why}"
        return ""


def _masked_min(values: np.ndarray, mask: np.ndarray) -> float:
    return float(np.min(values, where=mask, initial=np.inf))


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


def _group_windows(workload: Workload) -> np.ndarray:
    """windows[i, j] = (Kmax, Smax) of the buffer-sizing layers among layers i..j."""
    n = len(workload)
    out = np.ones((n, n, 2), dtype=np.int64)
    for i in range(n):
        kmax = smax = 1
        for j in range(i, n):
            layer = workload.layers[j]
            if layer.uses_window_buffers:
                kmax, smax = max(kmax, layer.kernel), max(smax, layer.stride)
            out[i, j] = (kmax, smax)
    return out
