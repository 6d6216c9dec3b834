"""`coexplore compare`: methods x seeds through the loop, the table, the plots, one-line errors."""

import csv

import numpy as np
import pytest
from baseline_helpers import write_table
from typer.testing import CliRunner

from coexplore.cli import app
from coexplore.storage import RunStorage

runner = CliRunner()
INDICES = np.random.default_rng(3).choice(15625, 16, replace=False)


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.setenv("COEXPLORE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "nb201.csv"
    return path, write_table(path, INDICES)


def _compare(out, csv_path, *extra):
    return runner.invoke(
        app,
        [
            "compare",
            "--preset",
            "nb201",
            "--csv",
            str(csv_path),
            "--out",
            str(out),
            "--workers",
            "1",
            "--set",
            "run.batch=4",
            "--set",
            "spec.fps=150",
            *extra,
        ],
    )


def _rows(out):
    with (out / "compare.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_tabular_comparison_writes_table_plots_and_runs(tmp_path, table):
    path, accuracy = table
    out = tmp_path / "cmp"
    result = _compare(
        out,
        path,
        "--methods",
        "exhaustive,hwnas,random",
        "--seeds",
        "0,1",
        "--set",
        "run.trials=16",
    )
    assert result.exit_code == 0, result.output
    for name in (
        "compare.md",
        "compare.csv",
        "fronts.png",
        "hypervolume.png",
        "runs/hwnas-s1/run.db",
        "runs/exhaustive-s0/picks.json",
    ):
        assert (out / name).exists(), name
    rows = _rows(out)
    assert [r["strategy"] for r in rows] == ["exhaustive"] * 2 + ["hwnas"] * 2 + ["random"] * 2 + [
        "true front"
    ]
    truth = rows[-1]
    assert int(truth["explored"]) == len(INDICES)
    for row in rows[:2]:  # walked every tabulated architecture: the true front itself
        assert float(row["hv_ratio_fps"]) == pytest.approx(1.0)
        assert float(row["hv_ratio_gops_per_w"]) == pytest.approx(1.0)
        assert float(row["best_accuracy"]) == pytest.approx(float(truth["best_accuracy"]))
    for row in rows[2:-1]:  # random mostly samples untabulated cells: FAILED, no accuracy
        assert 0.0 <= float(row["hv_ratio_fps"]) <= 1.0 + 1e-9
        assert not float(row["best_accuracy"]) > max(accuracy.values()) + 1e-9  # nan: none
    markdown = (out / "compare.md").read_text()
    assert "| true front |" in markdown and "± " in markdown
    # A run whose children all fail alike (cells the table lacks) stops early, says so, and the
    # comparison goes on with the others.
    for db in sorted((out / "runs").glob("*/run.db")):
        with RunStorage.open(db) as storage:
            if storage.get_meta("status") == "stopped":
                assert storage.get_meta("stopped_because") in result.output


def test_rerunning_reads_finished_runs_back_and_budget_stops_early(tmp_path, table):
    path, _ = table
    out = tmp_path / "cmp"
    args = ("--methods", "exhaustive", "--trained", "5", "--set", "run.trials=16")
    assert _compare(out, path, *args).exit_code == 0
    with RunStorage.open(out / "runs/exhaustive-s0/run.db") as storage:
        first = storage.trials()
        assert storage.get_meta("status") == "finished"
    assert len(first) == 8  # two batches of 4: the budget of 5 is reached in the second
    assert _compare(out, path, *args).exit_code == 0
    with RunStorage.open(out / "runs/exhaustive-s0/run.db") as storage:
        assert [t.number for t in storage.trials()] == [t.number for t in first]
    larger = ("--methods", "exhaustive", "--trained", "10", "--set", "run.trials=16")
    assert _compare(out, path, *larger).exit_code == 0  # a larger budget continues the run
    with RunStorage.open(out / "runs/exhaustive-s0/run.db") as storage:
        grown = storage.trials()
    assert len(grown) == 12 and [t.arch_key for t in grown[:8]] == [t.arch_key for t in first]
    other = _compare(out, path, *larger, "--set", "reward.alpha=0.5")
    assert other.exit_code == 2 and "holds a run of another config" in other.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "zoph"], "unknown zoph; strategies: coexplore"),
        (["--methods", "zoph"], "unknown zoph; strategies: coexplore"),
        (["--seeds", "a,b"], "--seeds: expected seeds"),
        (["--trained", "-1"], "--trained must be >= 0"),
    ],
)
def test_bad_options_give_one_line(tmp_path, table, args, message):
    path, _ = table
    result = _compare(tmp_path / "x", path, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_missing_table_and_non_tabular_exhaustive_give_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("COEXPLORE_NB201_CSV", raising=False)
    result = runner.invoke(app, ["compare", "--preset", "nb201", "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "COEXPLORE_NB201_CSV" in result.output
    result = runner.invoke(
        app,
        ["compare", "--preset", "quick", "--methods", "exhaustive", "--out", str(tmp_path / "b")],
    )
    assert result.exit_code == 2 and "exhaustive needs a tabular config" in result.output


def test_trained_comparison_on_a_real_dataset(tmp_path):
    out = tmp_path / "digits"
    result = runner.invoke(
        app,
        [
            "compare",
            "--preset",
            "quick",
            "--methods",
            "random,nas",
            "--out",
            str(out),
            "--set",
            "run.trials=4",
            "--set",
            "run.batch=2",
            "--set",
            "train.epochs=1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert [r["strategy"] for r in rows] == ["random", "nas"]
    assert all(r["hv_ratio_fps"] == "nan" for r in rows)  # no true front without a table
    assert float(rows[1]["training_hours"]) > 0 and int(rows[1]["trained"]) >= 1
