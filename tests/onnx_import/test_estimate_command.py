"""`coexplore estimate` on ONNX models and on several pools: readable in 80 columns, the same
numbers as the Python API, ranked pools, JSON for machines."""

from __future__ import annotations

import json

import pytest
from onnx_helpers import EXAMPLES
from rich.console import Console
from typer.testing import CliRunner, Result

from coexplore import cli
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import parse_pool
from coexplore.onnx_import import load_onnx_workload
from coexplore.tables import WIDE

RESNET = str(EXAMPLES / "resnet18.onnx")
POOLS = ["1xXCZU9EG", "2xXCZU9EG", "4xXC7Z020"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "console", Console(width=80))


def estimate(*args: str) -> Result:
    return runner.invoke(cli.app, ["estimate", *args])


def assert_readable(output: str, width: int = 80) -> None:
    """Nothing wider than the terminal and nothing cut off with an ellipsis."""
    assert max(len(line) for line in output.splitlines()) <= width
    assert "…" not in output


@pytest.mark.parametrize("pool", POOLS)
def test_estimate_of_an_onnx_model_is_the_api_result(pool: str) -> None:
    result = estimate(RESNET, "--pool", pool)
    assert result.exit_code == 0, result.output
    assert_readable(result.output)
    best = OptimalExplorer(parse_pool(pool)).explore(load_onnx_workload(EXAMPLES / "resnet18.onnx"))
    assert best.evaluation is not None
    assert f"FPS {best.evaluation.fps:,.1f} |" in result.output and "no spec given" in result.output
    rows = [s.split() for s in result.output.splitlines()]
    stage_rows = [r for r in rows if len(r) > 1 and r[0].isdigit() and r[1].startswith("XC")]
    assert len(stage_rows) == len(best.evaluation.stages)


def test_the_wide_view_shows_every_column_and_each_layer() -> None:
    result = estimate(RESNET, "--pool", "2xXCZU9EG", "--wide")
    assert result.exit_code == 0, result.output
    for header in ("Ip,Wp,Op", "cycles", "LUTs", "bound", "Layers", "node_add_7"):
        assert header in result.output
    assert_readable(result.output, WIDE)
    older = estimate(RESNET, "--pool", "2xXCZU9EG", "--layers")  # the option's earlier name
    assert older.exit_code == 0 and "node_add_7" in older.output


def test_pools_are_ranked_side_by_side() -> None:
    args = [RESNET, *(x for pool in POOLS for x in ("--pool", pool)), "--spec-fps", "27"]
    table = estimate(*args)
    assert table.exit_code == 0, table.output
    assert_readable(table.output)
    data = json.loads(estimate(*args, "--json").output)
    ranked = data["pools"]
    assert [x["rank"] for x in ranked] == [1, 2, 3] and data["macs"] == 1_814_073_344
    assert {x["pool"] for x in ranked} == {"1xXCZU9EG", "2xXCZU9EG", "4xXC7Z020"}
    meeting = [x for x in ranked if not x["pruned"]]
    assert [x["metrics"]["fps"] for x in meeting] == sorted(
        (x["metrics"]["fps"] for x in meeting), reverse=True
    )
    assert ranked.index(meeting[-1]) < min(
        (ranked.index(x) for x in ranked if x["pruned"]), default=len(ranked)
    )
    small = next(x for x in ranked if x["pool"] == "4xXC7Z020")
    assert small["pruned"] and "< spec 27 FPS" in small["reason"]
    assert small["metrics"]["fps"] < 27  # its best design is still shown, to rank it
    for x in ranked:
        assert x["resources"]["dsp_used"] <= x["resources"]["dsp_available"]
        assert f"{x['metrics']['fps']:,.1f}" in table.output
    assert "#3 4xXC7Z020: " in table.output and "< spec 27 FPS" in table.output


def test_all_pools_pruned_exits_1_and_classes_is_refused_for_onnx() -> None:
    result = estimate(RESNET, "--pool", "1xXC7A50T", "--pool", "1xXC7Z020", "--spec-fps", "1e6")
    assert result.exit_code == 1
    refused = estimate(RESNET, "--classes", "10")
    assert refused.exit_code == 2 and "--classes" in refused.stderr


def test_input_shape_reshapes_an_onnx_model() -> None:
    small = json.loads(estimate(RESNET, "--input-shape", "3x112x112", "--json").output)
    large = json.loads(estimate(RESNET, "--json").output)
    assert small["metrics"]["fps"] > large["metrics"]["fps"]


def test_a_user_catalog_is_used_by_estimate_and_devices(tmp_path) -> None:
    path = tmp_path / "boards.toml"
    path.write_text("[XCZU9EG]\nclock_mhz = 400.0\n")  # twice the catalog's 200 MHz
    base = json.loads(estimate(RESNET, "--pool", "1xXCZU9EG", "--json").output)
    fast = json.loads(
        estimate(RESNET, "--pool", "1xXCZU9EG", "--json", "--devices", str(path)).output
    )
    assert fast["metrics"]["fps"] == pytest.approx(2 * base["metrics"]["fps"], rel=1e-12)
    listed = runner.invoke(cli.app, ["devices", "--devices", str(path)])
    assert listed.exit_code == 0 and "XCZU9EG *" in listed.output and "400" in listed.output
    path.write_text("[XCZU9EG]\nclock_mhz = 0\n")
    bad = estimate(RESNET, "--devices", str(path))
    assert bad.exit_code == 2
    assert bad.stderr.strip() == (
        f"error: {path}: device XCZU9EG: clock_mhz: expected a positive number, got 0"
    )


def test_estimating_an_onnx_model_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from coexplore.cli import app\n"
        f"app(['estimate', {RESNET!r}, '--pool', '1xXC7Z020', '--pool', '2xXC7Z020'],"
        " standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_estimate_states_the_work_and_the_power_error_band() -> None:
    """MACs and GOP per image, and the power model's measured error with every power figure."""
    from coexplore.hardware.calibration import MEASURED, power_error_band

    band = power_error_band()
    data = json.loads(estimate(RESNET, "--pool", "2xXCZU9EG", "--json").output)
    assert data["macs"] == 1_814_073_344 and data["gop_per_image"] == pytest.approx(3.628146688)
    error = data["power_error"]
    assert (error["low_pct"], error["high_pct"], error["designs"]) == (
        round(band.low_pct, 1), round(band.high_pct, 1), len(MEASURED)
    )  # fmt: skip
    power = data["metrics"]["power_w"]
    low, high = data["power_range_w"]
    assert low == pytest.approx(power / (1 + band.high_pct / 100)) and low < power < high
    table = estimate(RESNET, "--pool", "2xXCZU9EG").output
    assert "1,814,073,344 MACs, 3.628 GOP per image: resnet18" in table
    assert f"power {power:.2f} W ({band.text()})" in table
    assert f"W: board power, {band.text()}" in table  # under the stage table
    pools = estimate(RESNET, "--pool", "1xXCZU9EG", "--pool", "2xXCZU9EG")
    assert f"W: board power, {band.text()}" in pools.output and "1,814,073,344 MACs" in pools.output
