"""What the CLI shows: a start-up line at once, a progress display that fits 80 columns, OptSW /
OptHW named alike everywhere, `estimate` judging a spec only when one was given."""

import itertools
import json

from rich.console import Console
from typer.testing import CliRunner

from coexplore.cli import app
from coexplore.config import HardwareConfig, load_config
from coexplore.errors import UserError
from coexplore.render import summary_table
from coexplore.search.progress import ProgressBar
from coexplore.storage import TrialRecord, TrialState

runner = CliRunner()
EXAMPLE = "docs/examples/chain6.json"


def trial(number: int, state: TrialState, accuracy: float, fps: float) -> TrialRecord:
    metrics = {"fps": fps, "gops_per_w": 30.0}
    return TrialRecord(number=number, batch=0, slot=number, strategy="coexplore", state=state,
                       arch_key=f"a{number}", arch={}, hardware=None, metrics=metrics,
                       reward=0.5, reason="", seed=number, started_at=0.0, finished_at=0.0,
                       timings={}, attempts=1, meets_spec=True,
                       accuracy=accuracy if state is TrialState.COMPLETE else None)  # fmt: skip


def test_the_progress_display_fits_80_columns():
    config = load_config("default")
    trials = [trial(0, TrialState.PRUNED, 0.0, 0.0), trial(1, TrialState.FAILED, 0.0, 0.0)]
    trials += [
        trial(n, TrialState.COMPLETE, 0.9 + n / 1000, 1600.0 + 100 * n) for n in range(2, 17)
    ]
    bar = ProgressBar(96, config, trials, enabled=True)
    console = Console(width=80, record=True, color_system=None, force_terminal=False)
    for part in bar.progress.get_renderables():
        console.print(part)
    lines = console.export_text().rstrip().splitlines()
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines), lines
    assert lines[0].startswith("search ") and "17/96" in lines[0]
    assert lines[1].split() == ["pruned", "1,", "trained", "15,", "failed", "1"]
    assert lines[2].strip() == "OptSW 0.916 @ 3,200 FPS | OptHW 0.916 @ 3,200 FPS"


def test_the_summary_names_the_picks_as_everywhere_else():
    pick = {"trial": 3, "arch": {"arch": "x"}, "test_accuracy": None,
            "metrics": {"accuracy": 0.9, "fps": 2000.0, "gops_per_w": 30.0,
                        "pipeline_efficiency": 0.8, "fpgas": 2}}  # fmt: skip
    summary = {"trials": 8, "counts": {"pruned": 1, "failed": 2}, "pruned_fraction": 0.125,
               "trained": 5, "training_hours": 0.01, "opt_sw": pick, "opt_hw": None,
               "failures": [{"reason": "CUDA out of memory", "count": 2}]}  # fmt: skip
    console = Console(width=120, record=True, color_system=None)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "OptSW" in text and "OptHW" in text and "opt_sw" not in text and "opt_hw" not in text
    assert "failed 2x: CUDA out of memory" in text


def test_estimate_judges_a_spec_only_when_one_is_given():
    plain = runner.invoke(app, ["estimate", EXAMPLE])
    assert plain.exit_code == 0 and "MEETS SPEC" not in plain.output
    assert "no spec given" in plain.output
    met = runner.invoke(app, ["estimate", EXAMPLE, "--spec-fps", "1"])
    assert met.exit_code == 0 and "MEETS SPEC" in met.output


def test_estimate_uses_the_searches_default_pool():
    as_json = json.loads(runner.invoke(app, ["estimate", EXAMPLE, "--json"]).output)
    from coexplore.hardware.devices import load_catalog, parse_pool

    default = parse_pool(HardwareConfig().pool, 10.0, load_catalog(None))
    assert as_json["pool"] == default.describe()


def test_search_says_what_it_starts_once_its_checks_pass(tmp_path, monkeypatch):
    """The start-up line names the run folder only when the checks let the run make it."""
    from coexplore import wiring

    out = tmp_path / "run"
    bad = runner.invoke(app, ["search", "--preset", "quick", "--out", str(out),
                              "--set", "hardware.pool=1xNOPE"])  # fmt: skip
    assert bad.exit_code == 2 and bad.stdout == "" and "NOPE" in bad.stderr

    def folder_made(run_dir, *args, **kwargs):
        assert (run_dir / wiring.DB_NAME).is_file()
        raise UserError("stopped by the test once the folder was made")

    monkeypatch.setattr(wiring, "resume", folder_made)
    good = runner.invoke(app, ["search", "--preset", "quick", "--out", str(out)])
    assert good.exit_code == 2 and "stopped by the test" in good.stderr
    lines = good.stdout.splitlines()  # the start-up line alone, folded at 80 columns
    assert all(len(line) <= 80 for line in lines[:-1]) and lines[1].startswith("  ")
    assert " ".join(line.strip() for line in lines) == (
        "search: 16 children (coexplore, seed 0) on digits, pool 2xXC7Z020+1xXC7A50T, "
        f"spec 2000 FPS, local executor -> {out}"
    )


def test_estimate_numbers_fpgas_and_layers_from_1():
    """As the report does: FPGA 1 runs layers 1-...; the JSON keeps the designs' indices."""
    result = runner.invoke(app, ["estimate", EXAMPLE, "--pool", "2xXC7Z020+1xXC7A50T", "--wide"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  device"))
    rows = [line.split() for line in lines[start + 2 :] if line.split()[:1] != []]
    rows = [r for r in rows if r[0].isdigit()]
    stages = [r for r in rows if len(r) > 5 and "-" in r[2]]
    assert [int(r[0]) for r in stages] == list(range(1, len(stages) + 1))
    spans = [tuple(int(x) for x in r[2].split("-")) for r in stages]
    assert spans[0][0] == 1 and all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    layers = [r for r in rows if len(r) == 6 and r[1].startswith(("conv", "fc"))]
    assert [int(r[0]) for r in layers] == list(range(1, spans[-1][1] + 1))
    assert {int(r[3]) for r in layers} == set(range(1, len(stages) + 1))
    as_json = json.loads(runner.invoke(app, ["estimate", EXAMPLE, "--json"]).stdout)
    assert as_json["stages"][0]["first_layer"] == 0
