"""The config reference (docs/config-reference.md), generated from the config's declarations:
every core section of `coexplore.config` and every section a strategy owns, each key with its
type, default, what it allows and its one line of meaning. tests/test_config_reference.py fails
when the file in docs/ is stale.

Usage: python -m coexplore.commands.config_reference > docs/config-reference.md
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from coexplore.config import CORE_SECTIONS, Config, Section

HEADER = """# Config reference

Generated from the declarations in `src/coexplore/config.py` and the strategies' own sections
(`python -m coexplore.commands.config_reference > docs/config-reference.md`; a test fails when
this page is stale). Every key is optional; a preset (`src/coexplore/presets/*.toml`) or a
`--config` file sets some, `--set section.key=value` overrides. Unknown keys, wrong types and
values outside what a key allows are refused in one line naming the key. Names of registered
things (strategy, space, dataset, executor kind) and the strategies' sections are checked when
the run is wired, before its folder is made. Keys renamed since earlier versions (`space.depth`,
`hardware.precision`, `[frontier]`, `[baseline]`) are still read, under their new names.
"""


def render() -> str:
    """The whole page."""
    from coexplore.search.strategies import registry, sections

    parts = [HEADER]
    hints = typing.get_type_hints(Config)
    for name in CORE_SECTIONS:
        parts.append(_section(name, hints[name]))
    for name, cls in sections().items():
        users = [e.name for e in registry().values() if cls in e.settings]
        parts.append(_section(name, cls, f"read by: {', '.join(users)}"))
    return "\n".join(parts)


def _section(name: str, cls: type[Section], owner: str = "") -> str:
    doc = (cls.__doc__ or "").strip().splitlines()
    generated = not doc or doc[0].startswith(cls.__name__)  # dataclass's own signature text
    intro = "" if generated else " ".join(line.strip() for line in doc)
    lines = [f"## [{name}]", ""]
    if owner or intro:
        lines += [" ".join(p for p in (intro, f"({owner})" if owner else "") if p), ""]
    lines += ["| key | type | default | allows | meaning |", "| --- | --- | --- | --- | --- |"]
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        rules = f.metadata
        lines.append(
            f"| `{name}.{f.name}` | {_type(hints[f.name])} | {_value(f.default)} | "
            f"{_allows(rules, hints[f.name])} | {rules.get('meaning', '')} |"
        )
    return "\n".join(lines) + "\n"


def _type(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        return "list of names" if args[-1] is Ellipsis else "[number, number]"
    return {int: "integer", float: "number", bool: "true/false", str: "string"}.get(hint, str(hint))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def registered(kind: str) -> tuple[str, ...]:
    """The names registered for a `setting(registry=...)` kind, as a config may give them."""
    from coexplore.datasets import DATASETS
    from coexplore.executors import EXECUTORS
    from coexplore.search.strategies import configurable
    from coexplore.spaces import SPACES

    names = {"strategy": configurable, "space": lambda: tuple(SPACES),
             "dataset": lambda: tuple(DATASETS), "executor": lambda: tuple(EXECUTORS)}  # fmt: skip
    return tuple(names[kind]())


def _allows(rules: Any, hint: Any) -> str:
    if rules.get("registry"):
        return ", ".join(registered(rules["registry"]))
    if rules.get("choices"):
        return ", ".join(str(c) for c in rules["choices"])
    if hint not in (int, float):
        return ""
    bounds = []
    if rules.get("above") is not None:
        bounds.append(f"> {rules['above']:g}")
    elif rules.get("low") is not None:
        bounds.append(f">= {rules['low']:g}")
    if rules.get("below") is not None:
        bounds.append(f"< {rules['below']:g}")
    elif rules.get("high") is not None:
        bounds.append(f"<= {rules['high']:g}")
    return ", ".join(bounds)


if __name__ == "__main__":
    print(render(), end="")
