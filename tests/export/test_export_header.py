"""The HLS header: it compiles, and its numbers are the design's and the model's."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from coexplore.export import ExportResult, c_header, guard_name
from coexplore.export.header import KIND_NAMES, TILING_FIELDS
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.accelerator import window_limits
from coexplore.hardware.devices import Pool, Precision, Spec, parse_pool
from coexplore.hardware.pipeline import Evaluation, HardwareDesign, evaluate_design
from coexplore.report import open_run
from coexplore.spaces import Nb201Space
from coexplore.storage import TrialRecord
from coexplore.workload import Workload

GCC = shutil.which("gcc")
ROW = re.compile(r"\{(CX_LAYER_\w+), (\d+), (\d+), (\d+), (\d+), (\d+), (\d+), (\d+)ULL\}")


def static_asserts(design: HardwareDesign, evaluation: Evaluation, workload: Workload) -> str:
    """C11 checks, one per number the header must hold, evaluated by the compiler."""
    checks = [f"CX_NUM_FPGAS == {len(design.stages)}", f"CX_NUM_LAYERS == {len(workload)}"]
    for i, (stage, report) in enumerate(zip(design.stages, evaluation.stages, strict=True)):
        layers = workload.layers[stage.first_layer : stage.last_layer + 1]
        rows, cols, smax = window_limits(layers)
        kmax = max(rows, cols)
        checks += [f"CX_FPGA{i}_{f.upper()} == {getattr(stage.tiling, f)}" for f in TILING_FIELDS]
        checks += [
            f"CX_FPGA{i}_KMAX == {kmax}",
            f"CX_FPGA{i}_SMAX == {smax}",
            f"CX_FPGA{i}_CYCLES == {report.cycles}ULL",
            f"sizeof cx_fpga{i}_layers / sizeof cx_fpga{i}_layers[0] == {len(layers)}",
        ]
    return "\n".join(f'_Static_assert({check}, "{check}");' for check in checks)


def compile_c(tmp_path: Path, header: str, body: str) -> None:
    if GCC is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "design.h").write_text(header)
    source = tmp_path / "check.c"
    # Included twice: the guards must make the second inclusion a no-op.
    source.write_text(f'#include "design.h"\n#include "design.h"\n{body}\n')
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only"]
    result = subprocess.run([GCC, *flags, str(source)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def check_tables(header: str, evaluation: Evaluation, workload: Workload) -> None:
    """Each FPGA's table lists its layers: kind, N, M, R, C, K, S and the modelled cycles."""
    for i, report in enumerate(evaluation.stages):
        table = header.split(f"cx_fpga{i}_layers[")[1].split("};")[0]
        rows = ROW.findall(table)
        assert len(rows) == len(report.layers)
        for row, cost in zip(rows, report.layers, strict=True):
            layer = workload.layers[cost.index]
            expected = (
                KIND_NAMES[layer.kind],
                layer.in_channels,
                layer.out_channels,
                layer.out_rows,
                layer.out_cols,
                layer.kernel,
                layer.stride,
                cost.cycles,
            )
            assert (row[0], *map(int, row[1:])) == expected


def test_exported_header_compiles_and_matches_the_design(
    exported: ExportResult, run_dir: Path, complete_trial: TrialRecord, tmp_path: Path
) -> None:
    header = exported.files["header"].read_text()
    view = open_run(run_dir)
    design = HardwareDesign.from_json(complete_trial.hardware or {})
    workload = view.workload(complete_trial.arch)
    evaluation = evaluate_design(workload, design, view.pool)
    compile_c(tmp_path, header, static_asserts(design, evaluation, workload))
    check_tables(header, evaluation, workload)
    assert f"run {view.name}, trial {complete_trial.number}" in header
    guard = guard_name(view.name, complete_trial.number)
    assert f"#ifndef {guard}\n#define {guard}" in header and header.rstrip().endswith(f"{guard} */")


@pytest.fixture
def nb201_design() -> tuple[HardwareDesign, Evaluation, Workload, Pool]:
    """A NAS-Bench-201 cell network: conv, pool, add and fc layers over several FPGAs."""
    space = Nb201Space()
    arch = space.sample(np.random.default_rng(3))
    workload = space.workload(arch, (3, 32, 32), 10)
    pool = parse_pool("3xXCZU9EG")
    result = OptimalExplorer(pool, Spec(), Precision.FIXED16).explore(workload)
    assert result.design is not None and result.evaluation is not None
    return result.design, result.evaluation, workload, pool


def test_header_of_a_multi_kind_network_compiles_and_matches(
    nb201_design: tuple[HardwareDesign, Evaluation, Workload, Pool], tmp_path: Path
) -> None:
    design, evaluation, workload, pool = nb201_design
    header = c_header(design, evaluation, workload, pool, "nb201 demo/run", 4)
    kinds = {layer.kind for layer in workload.layers}
    assert len(kinds) >= 3
    compile_c(tmp_path, header, static_asserts(design, evaluation, workload))
    check_tables(header, evaluation, workload)


@pytest.mark.parametrize(
    ("run_name", "expected"),
    [
        ("quick-20250101-120000", "COEXPLORE_QUICK_20250101_120000_TRIAL_3_H"),
        ("my run/ä", "COEXPLORE_MY_RUN_TRIAL_3_H"),
        ("---", "COEXPLORE_RUN_TRIAL_3_H"),
    ],
)
def test_guard_names_are_c_identifiers(run_name: str, expected: str) -> None:
    assert guard_name(run_name, 3) == expected
