"""`coexplore export` (not built yet)."""

from __future__ import annotations

from typing import Any


def register(app: Any, friendly: Any, user_error: type[Exception]) -> None:
    """Add the command to the Typer app (a later change replaces this stub)."""

    @app.command(name="export")
    @friendly
    def command() -> None:
        """Not built yet."""
        raise user_error("`coexplore export` is not built yet")
