"""The search strategies, and their one registry, found in this package's modules.

A module here that defines strategies declares them in a module-level tuple `ENTRIES` of
`coexplore.search.strategy.StrategyEntry` (name, builder, one line, rules, the config sections
it reads). `registry()` imports every module of this package once and collects them, so adding a
strategy is adding one module (and its contract test case): the config's choices for
`run.strategy`, the check of its settings sections, `coexplore compare`'s strategies and help,
and the dispatch in `coexplore.wiring` all come from it.

Modules: `frontier` (the default, `coexplore`), `rl` (the paper's controller; `nas`),
`hwnas` (hardware-aware NAS, hard and soft), `nsga2`, `motpe`, `random` (`random`,
`random_feasible`), `exhaustive` (the tabular ground truth); helpers: `controller` (the LSTM
policy), `surrogate`, `ehvi`, `oracle`.

Importing this package is cheap: the strategy modules (torch, optuna) load on `registry()`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import replace

from coexplore.config import Section
from coexplore.registry import Registry
from coexplore.search.strategy import Rules, Strategy, StrategyContext, StrategyEntry

# Listing order for help texts: the default first, then the paper's, then the baselines.
_ORDER = ("frontier", "rl", "random", "random_feasible", "hwnas", "nsga2", "motpe", "exhaustive")


@functools.cache
def registry() -> Registry[StrategyEntry]:
    """Every strategy of this package's modules, by name."""
    names = [m.name for m in pkgutil.iter_modules(__path__)]
    ordered = [n for n in _ORDER if n in names] + sorted(n for n in names if n not in _ORDER)
    entries: dict[str, StrategyEntry] = {}
    for module_name in ordered:
        module = importlib.import_module(f"{__name__}.{module_name}")
        for entry in getattr(module, "ENTRIES", ()):
            if entry.name in entries:
                raise AssertionError(f"strategy {entry.name!r} is declared twice")
            entries[entry.name] = entry
    return Registry("strategy", entries)


def configurable() -> tuple[str, ...]:
    """The names `run.strategy` accepts, in registry order."""
    return tuple(name for name, entry in registry().items() if entry.configurable)


def sections() -> dict[str, type[Section]]:
    """The config sections the strategies read: section name -> its class."""
    out: dict[str, type[Section]] = {}
    for entry in registry().values():
        for cls in entry.settings:
            if out.setdefault(cls.SECTION, cls) is not cls:
                raise AssertionError(f"config section [{cls.SECTION}] is declared twice")
    return out


def build_strategy(name: str, ctx: StrategyContext) -> tuple[Strategy, Rules]:
    """The strategy `name` and its rules (named after it); UnknownName lists the valid names."""
    entry = registry()[name]
    return entry.build(ctx), replace(entry.rules(ctx), name=name)
