"""User device catalogs: merged with the built-in one, validated with one-line errors that name
the file, the device and the field (docs/device-catalogs.md)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coexplore.cli import devices_override
from coexplore.config import load_config
from coexplore.hardware.devices import (
    builtin_catalog,
    builtin_families,
    load_catalog,
    parse_catalog,
)
from coexplore.problem import make_pool

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "my_boards.toml"
FULL = ('family = "Artix-7"\ndsp = 100\nbram18k = 50\nluts = 9000\nffs = 18000\n'
        'port_bits = 64\nclock_mhz = 150.0\nstatic_w = 0.1\nboard_w = 1.0\n')  # fmt: skip


def test_the_example_catalog_adds_two_devices_to_the_built_in_ones() -> None:
    catalog = load_catalog(EXAMPLE)
    assert set(catalog) == set(builtin_catalog()) | {"XCK26", "XCU50"}
    assert (catalog["XCK26"].dsp, catalog["XCK26"].bram18k) == (1248, 288)
    assert catalog["XCZU9EG"] == builtin_catalog()["XCZU9EG"]


def test_a_built_in_device_can_be_overridden_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "fast.toml"
    path.write_text("[XCZU9EG]\nclock_mhz = 200.0\n")
    fast, slow = load_catalog(path)["XCZU9EG"], builtin_catalog()["XCZU9EG"]
    assert fast.clock_mhz == 200.0 and fast.dsp == slow.dsp and fast.source == slow.source


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[X]\n" + FULL.replace("dsp = 100", 'dsp = "100"'),
         "device X: dsp: expected a number, got '100'"),
        ("[X]\n" + FULL.replace("luts = 9000", "luts = 9000.5"),
         "device X: luts: expected a positive integer, got 9000.5"),
        ("[X]\n" + FULL.replace("board_w = 1.0", "board_w = -1.0"),
         "device X: board_w: expected a number >= 0, got -1.0"),
        ("[X]\n" + FULL.replace("clock_mhz = 150.0", "clock_mhz = nan"),
         "device X: clock_mhz: expected a positive number, got nan"),
        ("[X]\n" + FULL.replace("port_bits = 64", "port_bits = true"),
         "device X: port_bits: expected a number, got True"),
        ("[X]\n" + FULL.replace("dsp = 100\n", ""), "device X: missing field\\(s\\) dsp"),
        ("[X]\n" + FULL + "bogus = 4\n", "device X: unknown field\\(s\\) bogus; fields: board"),
        ("[X]\n" + FULL + "board = 7\n", "device X: board: expected a string, got 7"),
        ("X = 3\n", "device X: expected a table \\[X\\] of fields, got 3"),
        ('["2xBOARD"]\n' + FULL, "device name '2xBOARD': a letter, then"),
        ('["A+B"]\n' + FULL, "device name 'A\\+B'"),
        ("[X\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_errors_name_the_file_the_device_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "boards.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {message}") as info:
        load_catalog(path)
    assert "\n" not in str(info.value)


def test_a_missing_or_unreadable_catalog_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.toml: no such device catalog"):
        load_catalog(tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="cannot read the device catalog"):
        load_catalog(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[X]")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_catalog(tmp_path / "bin.toml")


VALUES = st.one_of(
    st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip
FIELDS = ["dsp", "bram18k", "luts", "ffs", "uram", "port_bits", "clock_mhz", "static_w",
          "board_w", "family", "board", "source"]  # fmt: skip


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    # integers, floats and strings read back the same in TOML (which also forbids a raw DEL)
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


@given(field=st.sampled_from(FIELDS), value=VALUES)
def test_any_field_value_gives_a_device_or_an_error_naming_that_field(
    field: str, value: object
) -> None:
    text = f"[XCZU9EG]\n{field} = {toml_value(value)}\n"
    try:
        device = parse_catalog(text, "f.toml", builtin_families(), builtin_catalog())["XCZU9EG"]
    except ValueError as exc:
        assert str(exc).startswith(f"f.toml: device XCZU9EG: {field}: expected ")
        return
    got = getattr(device, field)
    assert got == value or (isinstance(value, float) and math.isnan(value))
    assert not isinstance(value, bool | list)


def test_search_and_compare_keep_the_catalog_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLE.parent)
    override = devices_override(Path(EXAMPLE.name))
    assert override == {"hardware.devices_file": str(EXAMPLE)}
    monkeypatch.chdir(tmp_path)  # resume, report and export may run from elsewhere
    config = load_config("quick", None, {"hardware.pool": "2xXCK26", **override})
    assert make_pool(config).describe() == "2xXCK26"
    with pytest.raises(ValueError, match="no such device catalog"):
        devices_override(Path("missing.toml"))
