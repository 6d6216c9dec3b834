"""Every table the CLI prints keeps every figure whole at 80 columns and in a pipe.

Each table is rendered at 80 columns (the wide views at their width) and fails on a cut cell:
an ellipsis anywhere, or a cell word (a figure, a name, a header word) not whole on one line
(folded). The tables get the widest figures they print: the largest built-in and example
devices, a network whose figures are long, a run summary with large counts.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console, Group, RenderableType
from rich.table import Table

from coexplore.archfile import load_arch_file
from coexplore.devices_view import devices_table
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Spec, load_catalog, parse_pool
from coexplore.onnx_import import load_onnx_workload
from coexplore.render import comparison_table, layer_table, stage_table, summary_table
from coexplore.tables import WIDE

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
BOARDS = EXAMPLES / "my_boards.toml"
# A VU13P-sized device, larger in every figure than any catalog device: the narrow devices
# table must still fit 80 columns.
BIGGEST = """
[XCVU13P]
family = "Zynq UltraScale+"
dsp = 12288
bram18k = 5376
uram = 1280
luts = 1728000
ffs = 3456000
port_bits = 1024
clock_mhz = 300.0
static_w = 3.5
board_w = 25.0
"""


def render(renderable: RenderableType, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def tables_in(renderable: RenderableType) -> list[Table]:
    if isinstance(renderable, Table):
        return [renderable]
    if isinstance(renderable, Group):
        return [t for part in renderable.renderables for t in tables_in(part)]
    return []


def assert_whole(renderable: RenderableType, width: int = 80) -> str:
    """Rendered at `width`: no line wider, no ellipsis, every word of every cell and header
    whole on one line. Returns the text."""
    text = render(renderable, width)
    lines = text.splitlines()
    assert "…" not in text, text
    assert max(len(line) for line in lines) <= width, text
    tables = tables_in(renderable)
    assert tables, "no table to check"
    for table in tables:
        for column in table.columns:
            for cell in [column.header, *column.cells]:
                for word in str(cell).split():
                    assert any(word in line for line in lines), f"{word!r} cut in:\n{text}"
    return text


def test_the_checker_catches_a_cut_and_a_folded_figure():
    """The check itself: a figure column too narrow for its figure fails."""
    table = Table()
    table.add_column("DSP", no_wrap=True, max_width=3)
    table.add_row("2,520")
    with pytest.raises(AssertionError):
        assert_whole(table)
    folded = Table()
    folded.add_column("DSP", overflow="fold", max_width=3)
    folded.add_row("2,520")
    with pytest.raises(AssertionError):
        assert_whole(folded)


@pytest.mark.parametrize("extra", [None, "boards", "biggest"])
def test_the_devices_table_fits_80_columns(tmp_path, extra):
    path = {"boards": BOARDS, "biggest": tmp_path / "big.toml", None: None}[extra]
    if extra == "biggest":
        path.write_text(BIGGEST)
    catalog = load_catalog(path)
    text = assert_whole(devices_table(catalog, path))
    assert "2,520" in text and "--wide" in text  # XCZU9EG's DSP, whole; where the rest is
    wide = assert_whole(devices_table(catalog, path, wide=True), WIDE)
    assert "ZedBoard / PYNQ-Z1 / ZC702" in wide and "Kintex UltraScale" in wide


@pytest.fixture(scope="module")
def resnet18():
    return load_onnx_workload(EXAMPLES / "resnet18.onnx")


@pytest.fixture(scope="module")
def chain6():
    return load_arch_file(EXAMPLES / "chain6.json").workload


@pytest.mark.parametrize(
    ("network", "pool"),
    [("chain6", "2xXC7Z020+1xXC7A50T"), ("resnet18", "2xXCZU9EG"), ("chain6", "4xXC7VX485T")],
)
def test_the_stage_and_layer_tables_fit(request, network, pool):
    workload = request.getfixturevalue(network)
    result = OptimalExplorer(parse_pool(pool)).explore(workload)
    assert result.evaluation is not None
    text = assert_whole(stage_table(result, parse_pool(pool), wide=False))
    for stage in result.evaluation.stages:
        assert f"{stage.seconds * 1e3:.3f}" in text and f"{stage.power_w:.2f}" in text
    assert "model -" in text  # the power figures' error band, under the table
    assert_whole(stage_table(result, parse_pool(pool), wide=True), WIDE)
    assert_whole(layer_table(result), WIDE)


def test_the_comparison_table_fits(resnet18, chain6):
    """The issue's pools for resnet18, and pools with long names, a pruned one among them."""
    for workload, texts, spec in [
        (resnet18, ["1xXCZU9EG", "2xXCZU9EG"], Spec()),
        (chain6, ["1xXC7A50T", "4xXC7VX485T+1xXCKU060", "2xXCZU7EV+1xXC7Z045"], Spec(fps=2000)),
    ]:
        pools = [parse_pool(p) for p in texts]
        results = [OptimalExplorer(p, spec).explore(workload) for p in pools]
        text = assert_whole(comparison_table(pools, results, wide=False))
        for r in results:
            if r.evaluation is not None:
                assert f"{r.evaluation.fps:,.1f}" in text and f"{r.evaluation.power_w:.2f}" in text
        assert_whole(comparison_table(pools, results, wide=True), WIDE)


def test_the_search_summary_fits():
    pick = {"trial": 12345, "arch": {"arch": "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"},
            "test_accuracy": 0.9123,
            "metrics": {"accuracy": 0.9512, "fps": 123456.0, "gops_per_w": 123.4,
                        "pipeline_efficiency": 1.0, "fpgas": 16}}  # fmt: skip
    summary = {"trials": 12345, "counts": {"pruned": 1234, "failed": 12}, "pruned_fraction": 0.1,
               "trained": 11099, "training_hours": 123.4, "opt_sw": pick, "opt_hw": None,
               "failures": [{"reason": "CUDA out of memory " * 6, "count": 12}]}  # fmt: skip
    text = assert_whole(summary_table(summary))
    assert "123,456" in text and "OptHW: no child met the spec" in text


def run_cli(*args: str, columns: str | None) -> str:
    """The command in a pipe (stdout is not a terminal), as `coexplore ... | cat` runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    if columns is not None:
        env["COLUMNS"] = columns
    code = "import sys; from coexplore.cli import app; sys.argv[0] = 'coexplore'; app()"
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("columns", [None, "80"])
def test_devices_and_estimate_in_a_pipe(columns):
    for args in (["devices"], ["estimate", str(EXAMPLES / "chain6.json")]):
        text = run_cli(*args, columns=columns)
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80, text


def test_devices_json_has_every_device_and_field():
    data = json.loads(run_cli("devices", "--json", columns="80"))
    assert [d["name"] for d in data] == list(load_catalog())
    zu9 = next(d for d in data if d["name"] == "XCZU9EG")
    assert zu9["dsp"] == 2520 and zu9["power"]["dsp_kind"] == "DSP48E2"
    assert zu9["user_catalog"] is False


def test_the_comparison_of_strategies_fits():
    """`coexplore compare`'s terminal view (compare.md keeps every column): means, ± std and
    partial counts on lines of their own, the true front's row without seeds."""
    from coexplore.compare.summary import RunSummary, terminal_table

    def run(strategy: str, seed: int, accuracy: float, fps: float) -> RunSummary:
        return RunSummary(strategy, seed, accuracy, fps, 123.45, 0.987, 12345, 1234, 11111,
                          12345.6, 123.456, 1234.5678, 98.765, 0.98765, 0.87654)  # fmt: skip

    rows = [run("hwnas_soft", 0, 0.93123, 123456.7), run("hwnas_soft", 1, float("nan"), 98765.4),
            run("hwnas_soft", 2, 0.91234, 12345.6), run("coexplore", 0, 0.94, 1500.0),
            run("true front", -1, 0.9437, 99999.9)]  # fmt: skip
    text = assert_whole(terminal_table(rows))
    assert "0.9218" in text and "± 0.0094" in text and "(2/3)" in text and "123,456.7" not in text
    assert "compare.md" in text
