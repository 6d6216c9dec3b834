"""Fast exploration from the hardware table: same answers as `OptimalExplorer`, no recompute.

A workload whose name is a tabulated architecture gets its stored design, evaluated exactly
again (milliseconds) so the metrics are the model's own; anything else (another architecture, a
latency or FPGA-count spec, which change the optimum) falls back to the exact explorer.
"""

from __future__ import annotations

import time
from typing import Any

from coexplore.fast.optimal import FastResult, OptimalExplorer
from coexplore.hardware.devices import Spec
from coexplore.hardware.pipeline import evaluate_design, spec_problem
from coexplore.tabular.hardware import HardwareProblem, HardwareTable
from coexplore.tabular.indexing import index_of
from coexplore.workload import Workload


class TableExplorer(OptimalExplorer):
    def __init__(
        self, problem: HardwareProblem, table: HardwareTable, spec: Spec | None = None
    ) -> None:
        super().__init__(problem.pool, spec, problem.precision)
        self.problem, self.table = problem, table

    def explore(self, workload: Workload, spec: Spec | None = None) -> FastResult:
        spec = spec or self.spec
        row = self._row(workload.name)
        if row is None or spec.latency_ms is not None or spec.max_fpgas is not None:
            return super().explore(workload, spec)
        start = time.perf_counter()
        design = self.table.design(row, self.pool, self.precision)
        if design is None:
            return super().explore(workload, spec)  # recomputed only to name the reason
        evaluation = evaluate_design(workload, design, self.pool)
        reason = evaluation.reason or spec_problem(evaluation, spec)
        return FastResult(design, evaluation, reason, time.perf_counter() - start)

    def _row(self, name: str) -> int | None:
        try:
            arch: Any = self.problem.space.from_json({"arch": name})
        except ValueError:
            return None  # not an architecture of this space: not tabulated
        return self.table.row_of(index_of(self.problem.space, arch))
