"""What `coexplore devices` prints: the device catalog as a narrow table, or as JSON."""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Group

from coexplore.hardware.devices import Device
from coexplore.tables import add_figures, add_texts, narrow_table, with_notes


def devices_table(
    catalog: dict[str, Device], user_file: Path | None = None, wide: bool = False
) -> Group:
    """The catalog; the narrow view holds the figures, the wide one adds family and board."""
    user = parse_catalog_names(user_file)
    notes = [f"* from {user_file}"] if user else []
    table = narrow_table("FPGA devices")
    add_texts(table, "device")
    if wide:
        add_texts(table, "family", "board")
    add_figures(table, "DSP", "BRAM\n18K", "URAM", "LUTs", "FFs", "port\nbits", "MHz", "static\nW",
                "board\nW")  # fmt: skip
    for d in catalog.values():
        table.add_row(
            d.name + (" *" if d.name in user else ""),
            *((d.family, d.board) if wide else ()),
            *(f"{n:,}" for n in (d.dsp, d.bram18k, d.uram, d.luts, d.ffs, d.port_bits)),
            f"{d.clock_mhz:g}",
            f"{d.static_w:.2f}",
            f"{d.board_w:.1f}",
        )
    return with_notes(table, [*notes, *([] if wide else [_DEVICES_WIDE])])


_DEVICES_WIDE = "--wide: family and board; --json: every field"


def devices_json(catalog: dict[str, Device], user_file: Path | None = None) -> list[dict[str, Any]]:
    """Every field of every device (its family's power coefficients included)."""
    user = parse_catalog_names(user_file)
    return [{**asdict(d), "user_catalog": d.name in user} for d in catalog.values()]


def parse_catalog_names(path: Path | None) -> set[str]:
    """Device names a user catalog defines (it was validated when the catalog was loaded)."""
    if path is None:
        return set()
    return set(tomllib.loads(path.read_text(encoding="utf-8"))) - {"families"}
