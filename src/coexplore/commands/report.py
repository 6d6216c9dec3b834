"""`coexplore report`: one static HTML file about a run (finished, still running, or killed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: Any, friendly: Any, user_error: type[Exception]) -> None:
    """Add the command to the Typer app."""

    @app.command(name="report")
    @friendly
    def command(
        run_dir: Annotated[Path, typer.Argument(help="a run folder (holds run.db)")],
        out: Annotated[
            Path | None, typer.Option(help="HTML file to write (default: RUN_DIR/report.html)")
        ] = None,
    ) -> None:
        """Write an HTML report: Pareto fronts, funnel, reward, per-FPGA stages, top trials."""
        from coexplore.report import write_report

        if not run_dir.is_dir():
            raise user_error(f"{run_dir}: no such run folder")
        print(f"report: {write_report(run_dir, out)}")
