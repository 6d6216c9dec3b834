"""The registry type: a plain name -> value dict whose missing names are a user error.

Every kind of component (search spaces, strategies, executors, datasets) has one registry; the
config's choices, help texts and dispatch are derived from it. Neutral: it imports only the
error classes, so any layer may hold a registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from coexplore.errors import UnknownName

V = TypeVar("V")


class Registry(dict[str, V]):
    """A plain name -> value dict whose KeyError lists the valid names."""

    def __init__(self, what: str, entries: Mapping[str, V]) -> None:
        super().__init__(entries)
        self.what = what

    def __missing__(self, name: str) -> V:
        raise UnknownName(f"unknown {self.what} {name!r}; valid names: {', '.join(sorted(self))}")
