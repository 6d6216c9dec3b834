"""`coexplore compare`: several search strategies on one config, side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: Any, friendly: Any, user_error: type[Exception]) -> None:
    """Add the command to the Typer app."""

    @app.command(name="compare")
    @friendly
    def command(
        preset: Annotated[str | None, typer.Option(help="a shipped preset, e.g. nb201")] = None,
        config: Annotated[Path | None, typer.Option(help="a TOML config file")] = None,
        strategies: Annotated[
            str,
            typer.Option(
                "--strategies",
                "--methods",
                help="comma-separated strategy names (default: every one a config can name; "
                "exhaustive on a tabular config too)",
            ),
        ] = "",
        seeds: Annotated[str, typer.Option(help="comma-separated seeds, e.g. 0,1,2")] = "0",
        out: Annotated[
            Path | None, typer.Option(help="output folder (default: runs/compare-<name>-<time>)")
        ] = None,
        csv: Annotated[
            Path | None,
            typer.Option(
                help="NAS-Bench-201 accuracy CSV (else data.root or $COEXPLORE_NB201_CSV)"
            ),
        ] = None,
        trained: Annotated[
            int,
            typer.Option(
                help="compare each run on its first N trained children (0: run.trials decides)"
            ),
        ] = 0,
        epochs_budget: Annotated[
            int,
            typer.Option(
                help="score each run on what it had trained when N training epochs were spent "
                "(0: all); also plots hypervolume against epochs"
            ),
        ] = 0,
        workers: Annotated[int, typer.Option(help="processes that build the hardware table")] = 2,
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="override: section.key=value")
        ] = None,
        devices_file: Annotated[
            Path | None,
            typer.Option("--devices", help="your device catalog (TOML), merged with the built-in"),
        ] = None,
    ) -> None:
        """Run each strategy on each seed, then write compare.md / compare.csv and the plots."""
        from coexplore.commands.options import devices_override, set_overrides
        from coexplore.compare.suite import parse_seeds, parse_strategies, run_comparison
        from coexplore.config import load_config
        from coexplore.search.strategies import configurable

        if trained < 0 or workers < 1:
            raise user_error("--trained must be >= 0 and --workers >= 1")
        if epochs_budget < 0:
            raise user_error("--epochs-budget must be >= 0 (0: score every run whole)")
        overrides = {**set_overrides(set_ or []), **devices_override(devices_file)}
        if csv is not None:
            overrides["data.root"] = str(csv)
        cfg = load_config(preset, config, overrides)
        name = preset or (config.stem if config else "default")
        folder = out or Path("runs") / f"compare-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        result = run_comparison(
            cfg,
            parse_strategies(strategies or ",".join(configurable())),
            parse_seeds(seeds),
            folder,
            trained,
            workers,
            say=print,
            epochs_budget=epochs_budget,
        )
        from rich.console import Console

        from coexplore.compare.summary import terminal_table

        Console().print(terminal_table(result.rows))  # narrow; compare.md has every column
        epochs_plot = (
            ", hypervolume-epochs.png" if (folder / "hypervolume-epochs.png").exists() else ""
        )
        print(
            f"comparison: {folder}  (compare.md, compare.csv, fronts.png, hypervolume.png"
            f"{epochs_plot}, runs/)"
        )
