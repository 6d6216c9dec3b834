"""The README's first screen stays true: its set-up commands are the ones CI runs (.ci/run), and
the sample of `--preset quick` it shows fits an 80-column terminal, as the command prints it."""

from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_test_command_is_what_ci_runs():
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "bootstrap" in line]
    assert ci == ["bash scripts/bootstrap.sh && .venv/bin/python -m pytest -q"]
    setup = [line.split("  #")[0].strip() for line in README.splitlines()[:20]]
    assert ci[0] in setup
    assert "bash scripts/bootstrap.sh && .venv/bin/coexplore search" in setup


def test_the_quick_sample_is_a_whole_run_within_80_columns():
    start = README.index("$ .venv/bin/coexplore search --preset quick --out runs/quick\n")
    sample = README[start : README.index("```", start)].splitlines()
    assert sample[1].startswith("search: 16 children (coexplore, seed 0) on digits")
    assert any(line.startswith("OptSW ") for line in sample)
    assert any(line.startswith("run folder: runs/quick") for line in sample)
    assert all(len(line) <= 80 for line in sample), [s for s in sample if len(s) > 80]
    assert README[:start].count("\n") < 25, "the sample belongs on the first screen"
