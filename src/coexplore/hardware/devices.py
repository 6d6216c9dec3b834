"""FPGA devices (a catalog loaded from data), pools of devices and throughput specs."""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from coexplore.errors import InputError, os_error_reason

# Two 8-bit multiplies sharing one operand fit one DSP slice in these families (the other
# operand pair packed into the wide multiplier input): DSP48E1 per WP487 (7 series),
# DSP48E2 per WP486 (UltraScale, UltraScale+). A family not listed takes one slice per MAC.
INT8_MACS_PER_DSP = {"DSP48E1": 2, "DSP48E2": 2}

# Board regulators deliver the FPGA's rails at this efficiency, so the board draws the FPGA's
# power divided by it (typical of the switching regulators on these boards at a few amperes).
REGULATOR_EFFICIENCY = 0.85


# What every power figure covers (the estimate output and the report say it).
POWER_COVERS = (
    f"board, per FPGA: FPGA static + dynamic through {REGULATOR_EFFICIENCY:.0%} regulators, "
    "plus the board's PS, memory and peripherals"
)


@dataclass(frozen=True)
class Resources:
    """What an engine uses (ints for one tiling, arrays over a grid)."""

    dsp: Any
    bram18k: Any
    luts: Any
    port_words: Any
    uram: Any = 0
    ffs: Any = 0


class Precision(StrEnum):
    """Arithmetic of the engine: word width and DSP slices per multiply-accumulate lane."""

    FIXED8 = "fixed8"
    FIXED16 = "fixed16"
    FP32 = "fp32"

    @property
    def word_bits(self) -> int:
        return {"fixed8": 8, "fixed16": 16, "fp32": 32}[self.value]

    @property
    def dsp_per_mac(self) -> int:
        """Slices per lane without packing (fp32: three for the mantissa product, two for the
        adder's alignment and normalisation, as in the floating-point operator cores)."""
        return 5 if self is Precision.FP32 else 1


@dataclass(frozen=True)
class FamilyPower:
    """Dynamic power coefficients of a device family, in mW at 100 MHz per used unit (scaled
    linearly with the clock); see the sources in devices.toml."""

    dsp_mw: float
    bram18k_mw: float
    uram_mw: float
    lut_mw_per_k: float  # logic and its routing, per 1,000 LUTs
    ff_mw_per_k: float  # flip-flop data and the clock tree that feeds them, per 1,000 FFs
    clock_base_mw: float  # global clock buffers and the clock manager
    dsp_kind: str  # DSP48E1 / DSP48E2: decides 8-bit packing
    source: str = ""


@dataclass(frozen=True)
class Device:
    name: str
    family: str
    dsp: int
    bram18k: int
    luts: int
    ffs: int
    port_bits: int
    clock_mhz: float
    static_w: float  # programmable-logic static power at the operating temperature
    board_w: float  # the rest of the board: processor system, DDR, fan, peripherals
    power: FamilyPower
    uram: int = 0
    board: str = ""
    source: str = ""

    def port_words(self, precision: Precision) -> int:
        return self.port_bits // precision.word_bits

    def macs_per_dsp(self, precision: Precision) -> int:
        if precision is Precision.FIXED8:
            return INT8_MACS_PER_DSP.get(self.power.dsp_kind, 1)
        return 1

    def pl_power_w(self, res: Resources) -> Any:
        """FPGA power: static plus dynamic of the used DSP, BRAM, URAM, LUT, FF and clock tree
        at the device's clock (element-wise over arrays of resources)."""
        p = self.power
        dynamic_mw = (
            res.dsp * p.dsp_mw
            + res.bram18k * p.bram18k_mw
            + res.uram * p.uram_mw
            + res.luts * p.lut_mw_per_k / 1000
            + res.ffs * p.ff_mw_per_k / 1000
            + p.clock_base_mw
        )
        return self.static_w + self.clock_mhz / 100.0 * dynamic_mw / 1000.0

    def power_w(self, res: Resources) -> Any:
        """Board power: the FPGA's power through the regulators, plus the rest of the board."""
        return self.pl_power_w(res) / REGULATOR_EFFICIENCY + self.board_w


def with_clock(device: Device, clock_mhz: float) -> Device:
    """The device run at another clock (the user's override of the catalog's clock)."""
    if not clock_mhz > 0:
        raise InputError(f"clock_mhz must be > 0, got {clock_mhz}")
    return Device(**{**vars(device), "clock_mhz": float(clock_mhz)})


# The catalog schema (docs/device-catalogs.md): field -> what a value must be.
_COUNTS = ("dsp", "bram18k", "luts", "ffs", "port_bits")  # positive integers
_OPTIONAL_COUNTS = ("uram",)  # integers >= 0
_RATES = ("clock_mhz",)  # positive numbers
_COEFFICIENTS = ("static_w", "board_w")  # numbers >= 0
_TEXTS = ("family", "board", "source")  # strings
_REQUIRED = (*_COUNTS, *_RATES, *_COEFFICIENTS, "family")
_DEVICE_FIELDS = {f.name for f in fields(Device)} - {"name", "power"}
_FAMILY_FIELDS = {f.name for f in fields(FamilyPower)}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # starts with a letter: '2xNAME' stays a count


def parse_catalog(
    text: str,
    origin: str = "catalog",
    families: dict[str, FamilyPower] | None = None,
    base: dict[str, Device] | None = None,
) -> dict[str, Device]:
    """Parse a TOML device catalog; errors name the origin, the device (or family) and the field.

    `[families.NAME]` tables hold a family's power coefficients; every other table is a
    device whose `family` names one of them (from this text or from `families`). A device
    already in `base` may give only the fields it changes (e.g. a faster clock).
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{origin}: not valid TOML ({exc})") from None
    known = dict(families or {})
    for name, values in raw.pop("families", {}).items():
        known[name] = _build(FamilyPower, values, _FAMILY_FIELDS, f"{origin}: family {name}")
    devices = {}
    for name, values in raw.items():
        if not _NAME.fullmatch(name):
            raise InputError(f"{origin}: device name {name!r}: a letter, then letters, digits, "
                             f"'_', '.' or '-'")  # fmt: skip
        devices[name] = _device(name, values, origin, known, base or {})
    return devices


def _device(
    name: str, values: Any, origin: str, known: dict[str, FamilyPower], base: dict[str, Device]
) -> Device:
    where = f"{origin}: device {name}"
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a table [{name}] of fields, got {values!r}")
    unknown = set(values) - _DEVICE_FIELDS
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                         f"fields: {', '.join(sorted(_DEVICE_FIELDS))}")  # fmt: skip
    inherited = {k: v for k, v in vars(base[name]).items() if k != "name"} if name in base else {}
    missing = [f for f in _REQUIRED if f not in values and f not in inherited]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    for field, value in values.items():
        _check_field(where, field, value)
    merged = {**inherited, **values}
    family = merged["family"]
    if family not in known and not ("power" in inherited and "family" not in values):
        raise InputError(f"{where}: family: expected a [families] power entry "
                         f"({', '.join(sorted(known))}), got {family!r}")  # fmt: skip
    if family in known:
        merged["power"] = known[family]
    floats = {f: float(v) for f, v in values.items() if f in (*_RATES, *_COEFFICIENTS)}
    return Device(**{**merged, **floats, "name": name})


def _check_field(where: str, field: str, value: object) -> None:
    if field in _TEXTS:
        ok, wanted = isinstance(value, str), "a string"
    elif not isinstance(value, int | float) or isinstance(value, bool):
        ok, wanted = False, "a number"
    elif field in _COUNTS:
        ok, wanted = isinstance(value, int) and value > 0, "a positive integer"
    elif field in _OPTIONAL_COUNTS:
        ok, wanted = isinstance(value, int) and value >= 0, "an integer >= 0"
    elif field in _RATES:
        ok, wanted = math.isfinite(value) and value > 0, "a positive number"
    else:
        ok, wanted = math.isfinite(value) and value >= 0, "a number >= 0"
    if not ok:
        raise InputError(f"{where}: {field}: expected {wanted}, got {value!r}")


def _build(cls: Any, values: dict[str, Any], allowed: set[str], where: str) -> Any:
    unknown = set(values) - allowed
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(unknown)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(f"{where}: {exc}") from None


@cache
def builtin_families() -> dict[str, FamilyPower]:
    text = resources.files("coexplore.hardware").joinpath("devices.toml").read_text()
    raw = tomllib.loads(text).get("families", {})
    return {n: _build(FamilyPower, v, _FAMILY_FIELDS, f"family {n}") for n, v in raw.items()}


@cache
def builtin_catalog() -> dict[str, Device]:
    text = resources.files("coexplore.hardware").joinpath("devices.toml").read_text()
    return parse_catalog(text, "built-in devices.toml")


def load_catalog(path: Path | None = None) -> dict[str, Device]:
    """The built-in catalog, extended (or overridden) by a user's TOML file, which may use
    the built-in families."""
    catalog = dict(builtin_catalog())
    if path is not None:
        text = _read_catalog(Path(path))
        catalog.update(parse_catalog(text, str(path), builtin_families(), catalog))
    return catalog


def _read_catalog(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such device catalog") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: a device catalog is a TOML text file (not UTF-8)") from None
    except OSError as exc:  # a folder, no permission
        raise InputError(
            f"{path}: cannot read the device catalog ({os_error_reason(exc)})"
        ) from None


def model_note(precision: Precision, pool: Pool) -> str:
    """One line on the assumptions behind a pool's figures: precision, DSP packing, clocks,
    fill, and what the power covers."""
    packing = ", ".join(f"{d.name} {d.macs_per_dsp(precision)} MAC/DSP" for d in pool.kinds)
    clocks = ", ".join(f"{d.name} {d.clock_mhz:g} MHz" for d in pool.kinds)
    fill = "fill/drain counted" if pool.fill else "steady state (no fill/drain)"
    return (
        f"precision {precision.value} ({precision.word_bits}-bit words; {packing}) | {clocks} | "
        f"{fill} | power: {POWER_COVERS}"
    )


def get_device(name: str, catalog: dict[str, Device] | None = None) -> Device:
    catalog = catalog if catalog is not None else builtin_catalog()
    try:
        return catalog[name]
    except KeyError:
        raise InputError(f"unknown device {name!r}; known: {', '.join(sorted(catalog))}") from None


@dataclass(frozen=True)
class Pool:
    """A multiset of devices available to the pipeline, plus the inter-FPGA link.

    `fill`: count each layer's pipeline fill and drain (the default); False keeps the
    steady-state cycle bound of the paper's formulas, for comparison with them.
    """

    devices: tuple[Device, ...]
    link_gbps: float = 10.0
    fill: bool = True

    def __post_init__(self) -> None:
        if not self.devices:
            raise InputError("a pool needs at least one device")
        if self.link_gbps <= 0:
            raise InputError("link_gbps must be > 0")

    @property
    def kinds(self) -> tuple[Device, ...]:
        """Distinct device types, in first-appearance order."""
        seen: dict[str, Device] = {}
        for device in self.devices:
            seen.setdefault(device.name, device)
        return tuple(seen.values())

    @property
    def counts(self) -> tuple[int, ...]:
        tally = Counter(d.name for d in self.devices)
        return tuple(tally[d.name] for d in self.kinds)

    def describe(self) -> str:
        return " + ".join(f"{n}x{d.name}" for d, n in zip(self.kinds, self.counts, strict=True))


# The exact optimiser tabulates every way of leaving a pool's devices free: the product of
# (count + 1) over the pool's device kinds (fast/dp.py). Past this many, a pool is refused at
# once rather than left to run for minutes with no output (100000xXC7Z020 would be 100,001;
# two of each of the nine built-in devices 19,683). docs/hardware.md, "Pools".
MAX_POOL_STATES = 10_000


def parse_pool(
    text: str,
    link_gbps: float = 10.0,
    catalog: dict[str, Device] | None = None,
    *,
    fill: bool = True,
    clock_mhz: float = 0.0,
) -> Pool:
    """Parse '2xXC7Z020+1xXC7A50T' (or 'XC7Z020,XC7Z020,XC7A50T') into a pool.

    `clock_mhz` > 0 runs every device at that clock instead of its catalog clock.
    """
    if not text.replace("+", " ").replace(",", " ").strip():
        raise InputError(f"pool {text!r} names no device")
    entries = [_entry(part.strip(), text, catalog) for part in text.replace(",", "+").split("+")]
    _check_size(text, entries)
    devices = [device for device, count in entries for _ in range(count)]  # in the text's order
    if clock_mhz:
        devices = [with_clock(d, clock_mhz) for d in devices]
    return Pool(tuple(devices), link_gbps, fill)


def _entry(part: str, text: str, catalog: dict[str, Device] | None) -> tuple[Device, int]:
    """One 'COUNTxDEVICE' (or 'DEVICE') of a pool's text."""
    if not part:
        raise InputError(
            f"pool {text!r}: an empty entry (two '+' in a row, or one at an end); "
            "expected COUNTxDEVICE+..., e.g. 2xXC7Z020+1xXC7A50T"
        )
    count, _, name = part.partition("x") if _has_count(part) else ("1", "", part)
    if not count.isdigit() or int(count) < 1:
        raise InputError(f"pool entry {part!r}: expected COUNTxDEVICE, e.g. 2xXC7Z020")
    return get_device(name.strip(), catalog), int(count)


def _check_size(text: str, entries: list[tuple[Device, int]]) -> None:
    counts: Counter[str] = Counter()
    for device, count in entries:
        counts[device.name] += count
    states = math.prod(n + 1 for n in counts.values())
    if states > MAX_POOL_STATES:
        raise InputError(
            f"pool {text!r} is too large: the exact optimiser tabulates every way of leaving "
            f"its devices free ({states:,}: the product of count + 1 over its device kinds), "
            f"at most {MAX_POOL_STATES:,}"
        )


def _has_count(part: str) -> bool:
    head, sep, _ = part.partition("x")
    return bool(sep) and head.strip().isdigit()


@dataclass(frozen=True)
class Spec:
    """What a design must meet: throughput, optionally latency and a number of FPGAs."""

    fps: float = 0.0
    latency_ms: float | None = None
    max_fpgas: int | None = None

    def __post_init__(self) -> None:
        if self.fps < 0:
            raise InputError("spec fps must be >= 0")
        if self.latency_ms is not None and self.latency_ms <= 0:
            raise InputError("spec latency_ms must be > 0")
        if self.max_fpgas is not None and self.max_fpgas < 1:
            raise InputError("spec max_fpgas must be >= 1")
