"""Architectures of a finite space by index: a mixed-radix number over its token positions.

The first token position is the most significant digit, so for NAS-Bench-201 the index is
exactly `Nb201Arch.index` (base-5 digits, edge (1<-0) first).
"""

from __future__ import annotations

from typing import Any

from coexplore.errors import InputError
from coexplore.spaces.base import SearchSpace


def tokens_at(space: SearchSpace[Any], index: int) -> tuple[int, ...]:
    """The choice indices of the architecture at `index` (ValueError outside 0..size-1)."""
    size = space.size()
    if not 0 <= index < size:
        raise InputError(f"{space.name}: architecture index must be in 0..{size - 1}, got {index}")
    digits = []
    for token in reversed(space.token_types()):
        index, digit = divmod(index, len(token.choices))
        digits.append(digit)
    return tuple(reversed(digits))


def arch_at(space: SearchSpace[Any], index: int) -> Any:
    return space.decode(tokens_at(space, index))


def index_of(space: SearchSpace[Any], arch: Any) -> int:
    value = 0
    for token, digit in zip(space.token_types(), space.encode(arch), strict=True):
        value = value * len(token.choices) + digit
    return value
