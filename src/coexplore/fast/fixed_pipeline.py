"""Fast exploration over a fixed multi-FPGA pipeline (the hardware of hardware-aware NAS)."""

from __future__ import annotations

import time

import numpy as np

from coexplore.fast import dp
from coexplore.fast.optimal import FastResult
from coexplore.fast.stages import TIE, stage_windows
from coexplore.hardware.accelerator import layer_cycles, over_budget, resources
from coexplore.hardware.devices import Pool, Spec
from coexplore.hardware.pipeline import (
    HardwareDesign,
    StageDesign,
    evaluate_design,
    link_seconds,
    spec_problem,
)
from coexplore.workload import Workload

_TIE = TIE  # relative slack when comparing times that are the same float (the explorer's)


class FixedPipelineExplorer:
    """Fast exploration over a fixed pipeline: the FPGAs of `design`, each keeping its device
    and its tiling (port split included). Only which consecutive layers each FPGA runs adapts
    (an FPGA may stay idle): the fastest partition, then the least power among the fastest,
    both by the exact partition DP (`coexplore.fast.dp`).

    `OptimalExplorer` cannot be restricted to this: its tiling grid is one `TilingSpace` for all
    device kinds with every port split, while here FPGA i must keep tiling i."""

    def __init__(self, design: HardwareDesign, pool: Pool, spec: Spec | None = None) -> None:
        kinds = {d.name: d for d in pool.kinds}
        self.design, self.pool, self.spec = design, pool, spec or Spec()
        self.devices = tuple(kinds[s.device] for s in design.stages)
        self._fits: dict[tuple[int, ...], tuple[bool, float]] = {}

    def explore(self, workload: Workload, spec: Spec | None = None) -> FastResult:
        start, spec = time.perf_counter(), spec or self.spec
        seconds, power = self._stage_costs(workload)
        links = [
            link_seconds(workload, j, self.pool.link_gbps, self.design.precision)
            for j in range(len(workload) - 1)
        ]
        staged = np.maximum(seconds, np.array([*links, 0.0]))
        counts, most = (1,) * len(self.devices), spec.max_fpgas or len(self.devices)
        fastest = dp.solve(staged, counts, most, np.maximum)
        if not np.isfinite(fastest.value):
            return FastResult(
                None,
                None,
                "no partition over the fixed pipeline fits its buffers",
                time.perf_counter() - start,
            )
        capped = np.where(staged <= fastest.value * _TIE, power, np.inf)
        plan = dp.solve(capped, counts, most, np.add)
        stages = tuple(
            StageDesign(self.devices[k].name, i, j, self.design.stages[k].tiling)
            for k, i, j in (plan.stages or fastest.stages)
        )
        design = HardwareDesign(stages, self.design.precision)
        evaluation = evaluate_design(workload, design, self.pool)
        reason = evaluation.reason or spec_problem(evaluation, spec)
        return FastResult(design, evaluation, reason, time.perf_counter() - start)

    def _stage_costs(self, workload: Workload) -> tuple[np.ndarray, np.ndarray]:
        """[fpga, first, last]: seconds and power of that stage; inf where it does not fit."""
        n = len(workload)
        windows = stage_windows(workload)  # [first, last, (Kh max, Kw max, Smax)]
        keys = [tuple(w) for w in windows.reshape(-1, 3).tolist()]
        seconds, power = np.full((2, len(self.devices), n, n), np.inf)
        for k, (device, stage) in enumerate(zip(self.devices, self.design.stages, strict=True)):
            cycles = [
                float(layer_cycles(layer, stage.tiling, self.pool.fill))
                for layer in workload.layers
            ]
            total = np.concatenate([[0.0], np.cumsum(cycles)])
            for window in set(keys):
                fits, watts = self._fit(k, window)
                where = (windows == window).all(axis=2) & fits
                span = total[None, 1:] - total[:n, None]
                seconds[k][where] = span[where] / (device.clock_mhz * 1e6)
                power[k][where] = watts
        return dp.upper_triangle(seconds), dp.upper_triangle(power)

    def _fit(self, k: int, window: tuple[int, ...]) -> tuple[bool, float]:
        """Whether FPGA k's engine, buffers sized for `window` (Kh max, Kw max, Smax), fits;
        its power (W)."""
        if (k, *window) not in self._fits:
            device, precision = self.devices[k], self.design.precision
            rows, cols, smax = window
            res = resources(self.design.stages[k].tiling, rows, smax, precision, device, cols)
            fits = not over_budget(res, device, precision)
            self._fits[(k, *window)] = (fits, float(device.power_w(res)))
        return self._fits[(k, *window)]
