"""Architecture search spaces: immutable architectures, token encodings and workloads (no torch).

`SPACES` maps a space name to its factory, e.g. `SPACES["chain"](depth=10)`.
"""

from __future__ import annotations

from typing import Any

from coexplore.registry import Registry
from coexplore.spaces.base import Architecture, SearchSpace, TokenType, digest_of
from coexplore.spaces.chain import ChainArch, ChainLayer, ChainSpace, scheduled_depth
from coexplore.spaces.imagenet import ImagenetArch, ImagenetLayer, ImagenetSpace, ImagenetStage
from coexplore.spaces.nb201 import Nb201Arch, Nb201Space
from coexplore.spaces.unet import UnetArch, UnetLevel, UnetSpace

SPACES: Registry[Any] = Registry(
    "search space",
    {
        ChainSpace.name: ChainSpace,
        Nb201Space.name: Nb201Space,
        ImagenetSpace.name: ImagenetSpace,
        UnetSpace.name: UnetSpace,
    },
)

__all__ = [
    "SPACES",
    "Architecture",
    "ChainArch",
    "ChainLayer",
    "ChainSpace",
    "ImagenetArch",
    "ImagenetLayer",
    "ImagenetSpace",
    "ImagenetStage",
    "Nb201Arch",
    "Nb201Space",
    "Registry",
    "SearchSpace",
    "TokenType",
    "UnetArch",
    "UnetLevel",
    "UnetSpace",
    "digest_of",
    "scheduled_depth",
]
