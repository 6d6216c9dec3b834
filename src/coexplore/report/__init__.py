"""The HTML report of a run: one static file with every plot embedded (docs/report-and-export.md).

>>> from coexplore.report import write_report
>>> write_report(Path("runs/quick"))  # doctest: +SKIP
PosixPath('runs/quick/report.html')
"""

from __future__ import annotations

import time
from pathlib import Path

from coexplore.report import sections
from coexplore.report.page import page
from coexplore.report.rundata import RunView, open_run

REPORT_NAME = "report.html"


def render_report(view: RunView) -> str:
    """The report of a run as one HTML document (plots as base64 PNG, no external assets)."""
    parts = [
        sections.summary_section(view),
        sections.pareto_section(view),
        sections.evolution_section(view),
        sections.funnel_section(view),
        sections.failures_section(view),
        sections.reward_section(view),
        sections.stages_section(view),
        sections.top_section(view),
    ]
    made = time.strftime("%Y-%m-%d %H:%M:%S")
    subtitle = f"{len(view.trials)} trials, made {made} by coexplore report"
    return page(f"coexplore run {view.name}", subtitle, parts)


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (default: ``run_dir/report.html``); its path.

    The run is only read, so this works while the search is still going or after it was killed.
    """
    html = render_report(open_run(run_dir))
    path = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


__all__ = ["REPORT_NAME", "RunView", "open_run", "render_report", "write_report"]
