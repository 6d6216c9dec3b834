"""`coexplore csim`: the C simulation of an exported design, checked bit for bit and cycle by
cycle (docs/hls.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: Any, friendly: Any, user_error: type[Exception]) -> None:
    """Add the command to the Typer app."""

    @app.command(name="csim")
    @friendly
    def command(
        export_dir: Annotated[
            Path, typer.Argument(help="an export folder (holds hls/) or an hls/ folder")
        ],
        images: Annotated[int, typer.Option(min=1, help="how many images to simulate")] = 100,
        inputs: Annotated[
            Path | None,
            typer.Option(
                help="images to run (.npy, N x C x H x W floats) instead of the "
                "run's test split or random ones"
            ),
        ] = None,
        jobs: Annotated[int, typer.Option(min=1, help="compilers to run at once")] = 2,
        layers: Annotated[
            bool, typer.Option("--layers", help="counted and modelled cycles of every layer")
        ] = False,
    ) -> None:
        """Build the exported engines with g++, run images through the FPGAs in pipeline order,
        and compare every FPGA's output tensors with the fixed-point reference and every
        layer's compute-loop trips with the cycle model. Exit status 1 when anything differs.

        The last line (A, B: compute cycles per image, all FPGAs):
        csim: <N> images, <D> outputs differ, cycles counted <A> modelled <B>
        """
        from coexplore.export.hls_files import csim_folder

        report = csim_folder(export_dir, images, inputs, jobs, layers)
        for line in report.lines:
            print(line)
        result = report.result
        print(result.last_line())
        if result.differing or result.mismatched_layers or result.trips_vary:
            raise typer.Exit(1)
