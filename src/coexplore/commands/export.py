"""`coexplore export`: one trained trial as files to deploy (architecture, weights, ONNX, HLS)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: Any, friendly: Any, user_error: type[Exception]) -> None:
    """Add the command to the Typer app."""

    @app.command(name="export")
    @friendly
    def command(
        run_dir: Annotated[Path, typer.Argument(help="a run folder (holds run.db)")],
        trial: Annotated[int, typer.Option(help="number of the trial to export")],
        out: Annotated[
            Path | None, typer.Option(help="folder to write (default: RUN_DIR/export/trial-N)")
        ] = None,
        epochs: Annotated[
            int | None,
            typer.Option(min=1, help="train this many epochs instead of the run's schedule"),
        ] = None,
    ) -> None:
        """Export a trial: architecture JSON, weights, ONNX, design JSON and a C header for HLS.

        Runs keep no weights: the child is trained again with the run's config and trial's seed.
        """
        from coexplore.export import ExportError, export_trial

        if not run_dir.is_dir():
            raise user_error(f"{run_dir}: no such run folder")
        try:
            result = export_trial(run_dir, trial, out, epochs)
        except ExportError as exc:
            raise user_error(str(exc)) from None
        for what, path in result.files.items():
            print(f"{what:>12}: {path}")
        for note in result.notes:
            print(f"note: {note}")
