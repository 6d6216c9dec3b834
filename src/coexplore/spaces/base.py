"""The search-space interface: token types, the verbs every space offers, and a name registry.

A space describes its architectures as a fixed-length sequence of tokens (one per position, each
with a finite list of choices). The generic verbs (`sample`, `mutate`, `neighbours`, `size`) are
written once here in terms of `token_types`, `encode` and `decode`, so a concrete space only says
what its tokens are and how an architecture turns into a workload and JSON.

Spaces are immutable values: sampling never changes them, and all randomness comes from the
`numpy.random.Generator` the caller passes in. No torch here: the hardware side imports spaces.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from coexplore.errors import InputError
from coexplore.workload import Workload


def digest_of(key: str) -> str:
    """A short stable hash of a canonical key (12 hex characters of SHA-1)."""
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


class Architecture(Protocol):
    """What the rest of the package needs from an architecture value."""

    @property
    def key(self) -> str: ...

    @property
    def digest(self) -> str: ...


@dataclass(frozen=True)
class TokenType:
    """One token position: its name, the kind it shares a controller head with, its choices."""

    name: str  # unique within a space, e.g. "layer3.kernel" or "edge2<-0"
    kind: str  # positions of one kind share one embedding and softmax head, e.g. "kernel"
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise InputError(f"token {self.name}: choices must not be empty")
        if len(set(self.choices)) != len(self.choices):
            raise InputError(f"token {self.name}: choices must be distinct")


A = TypeVar("A", bound=Architecture)


class SearchSpace(ABC, Generic[A]):
    """An immutable set of architectures, described as fixed-length token sequences."""

    name: ClassVar[str]
    # "module:function" that builds its torch model (named, not imported: spaces never import
    # torch); slow.builders.BUILDERS is derived from the SPACES registry.
    model_builder: ClassVar[str]
    # The keys of a config's [space] section it reads (besides `name`); a key it does not read
    # set to anything but its default is refused where the run is wired.
    settings: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def for_json(cls, data: Mapping[str, Any]) -> SearchSpace[Any]:
        """The space an architecture JSON of this space belongs to (`archfile.space_for`);
        spaces whose JSON carries settings (depth, levels) read them, the rest are the default.
        A malformed JSON still gets a space, so that `from_json` names the bad field."""
        return cls()

    @abstractmethod
    def token_types(self) -> tuple[TokenType, ...]:
        """One entry per token position, in order; fixed for a given space instance."""

    @abstractmethod
    def encode(self, arch: A) -> tuple[int, ...]:
        """The choice index at every token position."""

    @abstractmethod
    def decode(self, indices: tuple[int, ...]) -> A:
        """The architecture with these choice indices (ValueError if out of range)."""

    @abstractmethod
    def workload(self, arch: A, input_shape: tuple[int, int, int], num_classes: int) -> Workload:
        """The layers the hardware side sees for an input of (channels, rows, cols)."""

    @abstractmethod
    def to_json(self, arch: A) -> dict[str, Any]:
        """A JSON-ready dict that `from_json` turns back into the same architecture."""

    @abstractmethod
    def from_json(self, data: Mapping[str, Any]) -> A:
        """Parse `to_json` output; ValueError naming the bad field on malformed input."""

    def structure_features(self, arch: A) -> tuple[float, ...]:
        """What an accuracy model should know of `arch` beyond its token choices, as numbers
        (the default strategy's surrogate appends them to the one-hot tokens); the same length
        for every architecture of a space instance. A space whose tokens are the edges of a
        graph describes its input-to-output paths here (one-hot edges cannot say which ops a
        signal actually passes); a chain's tokens already are its path: nothing to add."""
        return ()

    def computation_key(self, arch: A) -> str:
        """What `arch` computes, as a string: two architectures of this space with one key
        compute the same function up to the names of their weights (the same network, which
        need not be trained twice), and have the same workload, hence the same hardware cost.
        By default the architecture's own key: every architecture is its own network. A space
        where different token choices can build one network (NAS-Bench-201: ops off every
        path to the output, skips that lead to the same sums) says so here."""
        return arch.key

    def network_key(self, arch: A) -> str:
        """What is trained for `arch`: two architectures with one network key share one
        training. The computation key, except where one trained network is computed several
        ways (at several precisions: `spaces.precision.PrecisionSpace`)."""
        return self.computation_key(arch)

    def precision_of(self, arch: A) -> str | None:
        """The precision `arch` is computed at, where the space chooses it (None: the run's)."""
        return None

    def at(self, arch: A, precision: str) -> A:
        """The same network at another precision, where the space chooses it (else itself)."""
        return arch

    def sample(self, rng: np.random.Generator) -> A:
        """A uniformly random architecture."""
        return self.decode(tuple(int(rng.integers(len(t.choices))) for t in self.token_types()))

    def mutate(self, arch: A, rng: np.random.Generator) -> A:
        """Change one random token position to a different choice."""
        indices = list(self.encode(arch))
        counts = [len(t.choices) for t in self.token_types()]
        mutable = [i for i, count in enumerate(counts) if count > 1]
        if not mutable:
            return arch
        position = mutable[int(rng.integers(len(mutable)))]
        # A shift in 1..count-1 picks uniformly among the *other* choices.
        shift = 1 + int(rng.integers(counts[position] - 1))
        indices[position] = (indices[position] + shift) % counts[position]
        return self.decode(tuple(indices))

    def neighbours(self, arch: A) -> list[A]:
        """Every architecture that differs from `arch` in exactly one token position."""
        indices = self.encode(arch)
        result = []
        for position, token in enumerate(self.token_types()):
            for choice in range(len(token.choices)):
                if choice != indices[position]:
                    changed = (*indices[:position], choice, *indices[position + 1 :])
                    result.append(self.decode(changed))
        return result

    def size(self) -> int:
        """The number of architectures in the space."""
        return math.prod(len(t.choices) for t in self.token_types())

    def check_indices(self, indices: tuple[int, ...]) -> None:
        """ValueError unless `indices` has one in-range choice index per token position."""
        tokens = self.token_types()
        if len(indices) != len(tokens):
            raise InputError(f"{self.name}: expected {len(tokens)} indices, got {len(indices)}")
        for index, token in zip(indices, tokens, strict=True):
            if not 0 <= index < len(token.choices):
                raise InputError(f"{self.name}: index {index} out of range for {token.name}")


def choice_index(value: Any, choices: tuple[Any, ...], field: str) -> int:
    """The index of `value` among `choices`; ValueError naming the field otherwise."""
    if value not in choices:
        raise InputError(f"{field}: {value!r} is not one of {choices}")
    return choices.index(value)


def json_field(data: object, name: str, expected: type, where: str = "") -> Any:
    """`data[name]` checked to be of type `expected`; ValueError naming the field otherwise."""
    label = f"{where}{name}"
    if not isinstance(data, Mapping):
        raise InputError(f"{where or 'architecture JSON'}: expected an object, got {data!r}")
    if name not in data:
        raise InputError(f"{label}: missing field")
    value = data[name]
    # bool is an int subclass, but `true` is never a valid kernel size.
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise InputError(f"{label}: expected {expected.__name__}, got {value!r}")
    return value


def check_space_field(data: object, space_name: str) -> None:
    """An optional "space" field must name this space (guards against loading the wrong file)."""
    if isinstance(data, Mapping) and "space" in data and data["space"] != space_name:
        raise InputError(f"space: expected {space_name!r}, got {data['space']!r}")
