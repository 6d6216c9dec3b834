"""FPGA devices (a catalog loaded from data), pools of devices and throughput specs."""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path


class Precision(StrEnum):
    """Arithmetic of the engine: word width and DSP slices per multiply-accumulate lane."""

    FIXED16 = "fixed16"
    FP32 = "fp32"

    @property
    def word_bits(self) -> int:
        return 16 if self is Precision.FIXED16 else 32

    @property
    def dsp_per_mac(self) -> int:
        return 1 if self is Precision.FIXED16 else 5


@dataclass(frozen=True)
class Device:
    name: str
    family: str
    dsp: int
    bram18k: int
    luts: int
    port_bits: int
    clock_mhz: float
    static_w: float
    base_dynamic_w: float
    dsp_mw: float
    bram18k_mw: float
    board: str = ""
    source: str = ""

    def port_words(self, precision: Precision) -> int:
        return self.port_bits // precision.word_bits

    def power_w(self, dsp_used: int | float, bram18k_used: int | float) -> float:
        """Static plus dynamic power; dynamic coefficients are given at 100 MHz."""
        scale = self.clock_mhz / 100.0
        dynamic_mw = dsp_used * self.dsp_mw + bram18k_used * self.bram18k_mw
        return self.static_w + scale * (self.base_dynamic_w + dynamic_mw / 1000.0)


# The catalog schema (docs/device-catalogs.md): field -> (type, what a value must be).
_COUNTS = ("dsp", "bram18k", "luts", "port_bits")  # positive integers
_RATES = ("clock_mhz",)  # positive numbers
_COEFFICIENTS = ("static_w", "base_dynamic_w", "dsp_mw", "bram18k_mw")  # numbers >= 0
_TEXTS = ("family", "board", "source")  # optional strings
_REQUIRED = (*_COUNTS, *_RATES, *_COEFFICIENTS)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # starts with a letter: '2xNAME' stays a count


def parse_catalog(
    text: str, origin: str = "catalog", base: dict[str, Device] | None = None
) -> dict[str, Device]:
    """Parse a TOML device catalog; errors name the origin, the device and the field.

    A device already in `base` may give only the fields it changes (e.g. a faster clock);
    a new device gives every required field.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML ({exc})") from None
    devices = {}
    for name, fields in raw.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"{origin}: device name {name!r}: a letter, then letters, digits, "
                             f"'_', '.' or '-'")  # fmt: skip
        where = f"{origin}: device {name}"
        if not isinstance(fields, dict):
            raise ValueError(f"{where}: expected a table [{name}] of fields, got {fields!r}")
        inherited = asdict(base[name]) if base and name in base else {"family": ""}
        unknown = set(fields) - set(_REQUIRED) - set(_TEXTS)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                             f"fields: {', '.join((*_REQUIRED, *_TEXTS))}")  # fmt: skip
        missing = [f for f in _REQUIRED if f not in fields and f not in inherited]
        if missing:
            raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
        for field, value in fields.items():
            _check_field(where, field, value)
        floats = {f: float(v) for f, v in fields.items() if f in (*_RATES, *_COEFFICIENTS)}
        devices[name] = Device(**{**inherited, **fields, **floats, "name": name})
    return devices


def _check_field(where: str, field: str, value: object) -> None:
    if field in _TEXTS:
        ok, wanted = isinstance(value, str), "a string"
    elif not isinstance(value, int | float) or isinstance(value, bool):
        ok, wanted = False, "a number"
    elif field in _COUNTS:
        ok, wanted = isinstance(value, int) and value > 0, "a positive integer"
    elif field in _RATES:
        ok, wanted = math.isfinite(value) and value > 0, "a positive number"
    else:
        ok, wanted = math.isfinite(value) and value >= 0, "a number >= 0"
    if not ok:
        raise ValueError(f"{where}: {field}: expected {wanted}, got {value!r}")


@cache
def builtin_catalog() -> dict[str, Device]:
    text = resources.files("coexplore.hardware").joinpath("devices.toml").read_text()
    return parse_catalog(text, "built-in devices.toml")


def load_catalog(path: Path | None = None) -> dict[str, Device]:
    """The built-in catalog, extended (or overridden) by a user's TOML file."""
    catalog = dict(builtin_catalog())
    if path is not None:
        catalog.update(parse_catalog(_read_catalog(Path(path)), str(path), catalog))
    return catalog


def _read_catalog(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such device catalog") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: a device catalog is a TOML text file (not UTF-8)") from None
    except OSError as exc:  # a folder, no permission
        raise ValueError(f"{path}: cannot read the device catalog ({exc.strerror})") from None


def get_device(name: str, catalog: dict[str, Device] | None = None) -> Device:
    catalog = catalog if catalog is not None else builtin_catalog()
    try:
        return catalog[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; known: {', '.join(sorted(catalog))}") from None


@dataclass(frozen=True)
class Pool:
    """A multiset of devices available to the pipeline, plus the inter-FPGA link."""

    devices: tuple[Device, ...]
    link_gbps: float = 10.0

    def __post_init__(self) -> None:
        if not self.devices:
            raise ValueError("a pool needs at least one device")
        if self.link_gbps <= 0:
            raise ValueError("link_gbps must be > 0")

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


def parse_pool(
    text: str, link_gbps: float = 10.0, catalog: dict[str, Device] | None = None
) -> Pool:
    """Parse '2xXC7Z020+1xXC7A50T' (or 'XC7Z020,XC7Z020,XC7A50T') into a pool."""
    devices: list[Device] = []
    for part in text.replace(",", "+").split("+"):
        part = part.strip()
        if not part:
            continue
        count, _, name = part.partition("x") if _has_count(part) else ("1", "", part)
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"pool entry {part!r}: expected COUNTxDEVICE, e.g. 2xXC7Z020")
        devices.extend([get_device(name.strip(), catalog)] * int(count))
    if not devices:
        raise ValueError(f"pool {text!r} names no device")
    return Pool(tuple(devices), link_gbps)


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
            raise ValueError("spec fps must be >= 0")
        if self.latency_ms is not None and self.latency_ms <= 0:
            raise ValueError("spec latency_ms must be > 0")
        if self.max_fpgas is not None and self.max_fpgas < 1:
            raise ValueError("spec max_fpgas must be >= 1")
