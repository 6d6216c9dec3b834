"""`coexplore nb201-table`: the NAS-Bench-201 accuracy CSV, made from NATS-Bench's release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_OUT = Path("nats_bench_tss_accuracy.csv")


def register(app: Any, friendly: Any, user_error: type[Exception]) -> None:
    """Add the command to the Typer app."""

    @app.command(name="nb201-table")
    @friendly
    def command(
        release: Annotated[
            Path,
            typer.Argument(
                help="NATS-Bench's topology release: the folder NATS-tss-v1_0-3ffb9-simple "
                "or the file NATS-tss-v1_0-3ffb9.pickle.pbz2"
            ),
        ],
        out: Annotated[Path, typer.Option(help="the CSV to write")] = DEFAULT_OUT,
        force: Annotated[bool, typer.Option("--force", help="replace OUT if it exists")] = False,
    ) -> None:
        """Make the accuracy table the nb201 preset reads, from NATS-Bench's release (needs the
        nats_bench package: the nb201 extra, docs/baselines.md)."""
        from coexplore.tabular.nats import make_accuracy_csv

        if out.exists() and not force:
            raise user_error(f"{out} exists; give another --out, or --force to replace it")
        rows = make_accuracy_csv(release, out)
        print(f"nb201-table: wrote {rows:,} rows to {out}; use it with COEXPLORE_NB201_CSV={out}")
