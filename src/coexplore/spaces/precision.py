"""Precision as a searched choice: a space's architectures, each computed at one precision.

A run whose `hardware.precisions` lists several (e.g. fixed16 and fixed8) searches
`PrecisionSpace(space, precisions)`: one more token, `precision`, after the space's own, so
every strategy chooses it as it chooses a kernel (the RL controller has a head for it, NSGA-II a
categorical, random a uniform draw). A (network, precision) pair is one point of the fronts: its
design is the fast level's best at that precision, its accuracy the network's at that precision.

Two keys say what is what. `computation_key` is the pair's (`<network>@fixed8`): what the
hardware computes, in integers. `network_key` is the network's alone: what is trained, in float,
once for every precision (the training job scores it at each precision of the run, so a pair of
a network already trained costs no training). The architecture JSON is the space's own with a
`"precision"` field; `split_json` takes it apart again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coexplore.errors import InputError
from coexplore.spaces.base import SearchSpace, TokenType, digest_of
from coexplore.workload import Workload


@dataclass(frozen=True)
class AtPrecision:
    """An architecture of the inner space and the precision its design computes in."""

    arch: Any
    precision: str

    @property
    def key(self) -> str:
        return f"{self.arch.key}@{self.precision}"

    @property
    def digest(self) -> str:
        return digest_of(self.key)


def split_json(data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """An architecture JSON without its `"precision"` field, and that field (None: none)."""
    inner = {k: v for k, v in data.items() if k != "precision"}
    precision = data.get("precision")
    if precision is not None and not isinstance(precision, str):
        raise InputError(f"precision: expected a name, got {precision!r}")
    return inner, precision


@dataclass(frozen=True)
class PrecisionSpace(SearchSpace[AtPrecision]):
    """`inner`'s architectures at each of `precisions` (the precision token last)."""

    inner: SearchSpace[Any]
    precisions: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.precisions) < 2 or len(set(self.precisions)) != len(self.precisions):
            raise InputError(
                f"precision space: two or more distinct precisions, got {self.precisions}"
            )

    @property  # type: ignore[misc]
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    @property  # type: ignore[misc]
    def model_builder(self) -> str:  # type: ignore[override]
        return self.inner.model_builder

    def token_types(self) -> tuple[TokenType, ...]:
        return (*self.inner.token_types(), TokenType("precision", "precision", self.precisions))

    def encode(self, arch: AtPrecision) -> tuple[int, ...]:
        if arch.precision not in self.precisions:
            raise InputError(f"precision: {arch.precision!r} is not one of {self.precisions}")
        return (*self.inner.encode(arch.arch), self.precisions.index(arch.precision))

    def decode(self, indices: tuple[int, ...]) -> AtPrecision:
        self.check_indices(indices)
        return AtPrecision(self.inner.decode(tuple(indices[:-1])), self.precisions[indices[-1]])

    def workload(
        self, arch: AtPrecision, input_shape: tuple[int, int, int], num_classes: int
    ) -> Workload:
        return self.inner.workload(arch.arch, input_shape, num_classes)

    def to_json(self, arch: AtPrecision) -> dict[str, Any]:
        return {**self.inner.to_json(arch.arch), "precision": arch.precision}

    def from_json(self, data: Mapping[str, Any]) -> AtPrecision:
        """The JSON's architecture at its `"precision"` (the first of the space's where the
        JSON names none: an architecture file written for the space alone)."""
        inner, precision = split_json(data)
        arch = AtPrecision(self.inner.from_json(inner), precision or self.precisions[0])
        self.encode(arch)  # membership: names the field
        return arch

    def structure_features(self, arch: AtPrecision) -> tuple[float, ...]:
        return self.inner.structure_features(arch.arch)  # the precision is a token already

    def computation_key(self, arch: AtPrecision) -> str:
        return f"{self.inner.computation_key(arch.arch)}@{arch.precision}"

    def network_key(self, arch: AtPrecision) -> str:
        return self.inner.computation_key(arch.arch)

    def precision_of(self, arch: AtPrecision) -> str | None:
        return arch.precision

    def at(self, arch: AtPrecision, precision: str) -> AtPrecision:
        """The same network at another precision."""
        return AtPrecision(arch.arch, precision)
