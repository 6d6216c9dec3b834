"""Options several commands share: `--set section.key=value` and `--devices FILE`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from coexplore.errors import UserError
from coexplore.hardware.devices import load_catalog


def set_overrides(items: list[str]) -> dict[str, Any]:
    """--set section.key=value (value parsed as TOML, bare words as strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or "." not in key:
            raise UserError(f"--set: expected section.key=value, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = text
    return out


def devices_override(path: Path | None) -> dict[str, Any]:
    """--devices as the config key hardware.devices_file: checked now, stored as an absolute
    path so that resume, report and export find it from any folder."""
    if path is None:
        return {}
    load_catalog(path)
    return {"hardware.devices_file": str(path.resolve())}
