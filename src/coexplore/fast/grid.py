"""The tiling design space of one device: every <Tm, Tn, T, Ip, Wp, Op> the search considers.

Decided (see docs/hardware.md): Tm and Tn take values 2^a and 3*2^a (they divide the usual
channel counts 24, 36, 48, 64, 96, ...), square spatial tiles Tr = Tc = T take the values that
divide or nearly divide common feature-map sizes, and the memory port is always fully split
(Ip + Wp + Op = port words, each >= 1): a wider share never slows a layer down.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from coexplore.hardware.accelerator import Tiling
from coexplore.hardware.devices import Device, Precision

PE_VALUES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
TILE_VALUES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 56, 64, 112, 224)


@dataclass(frozen=True)
class TilingSpace:
    """Candidate values of each tiling parameter."""

    tm_values: tuple[int, ...] = PE_VALUES
    tn_values: tuple[int, ...] = PE_VALUES
    t_values: tuple[int, ...] = TILE_VALUES

    def __post_init__(self) -> None:
        for name in ("tm_values", "tn_values", "t_values"):
            values = getattr(self, name)
            if not values or min(values) < 1:
                raise ValueError(f"tiling space {name} must be non-empty positive integers")


def port_splits(port_words: int) -> list[tuple[int, int, int]]:
    """All (Ip, Wp, Op) >= 1 with Ip + Wp + Op == port_words."""
    return [
        (ip, wp, port_words - ip - wp)
        for ip in range(1, port_words - 1)
        for wp in range(1, port_words - ip)
    ]


@dataclass(frozen=True, eq=False)
class TilingGrid:
    """All candidate tilings of one device as parallel int64 arrays (DSP budget applied).

    Rows are ordered block-major: a block is one <Tm, Tn, T> (which alone fixes the engine's
    resources and power), and each block holds `n_splits` consecutive rows, one per port split.
    """

    device: Device
    precision: Precision
    tm: np.ndarray
    tn: np.ndarray
    tr: np.ndarray
    tc: np.ndarray
    ip: np.ndarray
    wp: np.ndarray
    op: np.ndarray
    n_splits: int

    @classmethod
    def build(cls, device: Device, precision: Precision, space: TilingSpace) -> TilingGrid:
        port = device.port_words(precision)
        if port < 3:
            raise ValueError(
                f"{device.name}: a {device.port_bits}-bit port cannot carry three "
                f"{precision.word_bits}-bit streams"
            )
        lanes_max = device.dsp // precision.dsp_per_mac
        pes = [(m, n) for m, n in product(space.tm_values, space.tn_values) if m * n <= lanes_max]
        rows = [
            (m, n, t, t, *split)
            for (m, n), t, split in product(pes, space.t_values, port_splits(port))
        ]
        cols = np.array(rows, dtype=np.int64).reshape(-1, 7).T
        return cls(device, precision, *cols, n_splits=len(port_splits(port)))

    @property
    def n_blocks(self) -> int:
        return len(self) // self.n_splits

    def blocks(self) -> TilingGrid:
        """One row per block (its first split): enough for resources and power."""
        step = self.n_splits
        cols = (a[::step] for a in (self.tm, self.tn, self.tr, self.tc, self.ip, self.wp, self.op))
        return TilingGrid(self.device, self.precision, *cols, n_splits=1)

    def __len__(self) -> int:
        return int(self.tm.shape[0])

    def tiling(self, index: int) -> Tiling:
        return Tiling(
            *(
                int(a[index])
                for a in (self.tm, self.tn, self.tr, self.tc, self.ip, self.wp, self.op)
            )
        )

    def tilings(self) -> list[Tiling]:
        return [self.tiling(i) for i in range(len(self))]
