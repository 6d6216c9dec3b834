"""The tiling design space of one device: every <Tm, Tn, T, Ip, Wp, Op> the search considers.

Decided (see docs/hardware.md): Tm and Tn take values 2^a and 3*2^a (they divide the usual
channel counts 24, 36, 48, 64, 96, ...), square spatial tiles Tr = Tc = T take the values that
divide or nearly divide common feature-map sizes, and the memory port is always fully split
(Ip + Wp + Op = port words, each >= 1): a wider share never slows a layer down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coexplore.errors import InputError
from coexplore.hardware.accelerator import Tiling, dsp_slices
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
                raise InputError(f"tiling space {name} must be non-empty positive integers")


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
            raise InputError(
                f"{device.name}: a {device.port_bits}-bit port cannot carry three "
                f"{precision.word_bits}-bit streams"
            )
        tm, tn = np.meshgrid(space.tm_values, space.tn_values, indexing="ij")
        keep = (dsp_slices(tm, tn, precision, device) <= device.dsp).ravel()
        pe = np.stack([tm.ravel()[keep], tn.ravel()[keep]], axis=1)
        splits = np.array(port_splits(port), dtype=np.int64)
        tiles = np.array(space.t_values, dtype=np.int64)
        # block-major order: (Tm, Tn) pair, then tile, then split
        pe_rows = np.repeat(pe, len(tiles) * len(splits), axis=0)
        tile_rows = np.tile(np.repeat(tiles, len(splits)), len(pe))
        split_rows = np.tile(splits, (len(pe) * len(tiles), 1))
        tm_, tn_, tr_, tc_, ip_, wp_, op_ = (
            np.column_stack([pe_rows, tile_rows, tile_rows, split_rows]).astype(np.int64).T
        )
        return cls(device, precision, tm_, tn_, tr_, tc_, ip_, wp_, op_, n_splits=len(splits))

    @property
    def n_blocks(self) -> int:
        return len(self) // self.n_splits

    def blocks(self) -> TilingGrid:
        """One row per block (its first split): enough for resources and power."""
        step = self.n_splits
        return TilingGrid(
            self.device, self.precision, self.tm[::step], self.tn[::step], self.tr[::step],
            self.tc[::step], self.ip[::step], self.wp[::step], self.op[::step], n_splits=1,
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.tm.shape[0])

    def factored(self) -> object:
        """The grid as broadcastable [block, 1] tile sizes and [1, split] port shares: the cost
        formulas then compute block-level terms once per block, not once per split."""
        step, blocks = self.n_splits, self.blocks()
        return type(
            "FactoredGrid",
            (),
            {
                "tm": blocks.tm[:, None],
                "tn": blocks.tn[:, None],
                "tr": blocks.tr[:, None],
                "tc": blocks.tc[:, None],
                "ip": self.ip[:step][None, :],
                "wp": self.wp[:step][None, :],
                "op": self.op[:step][None, :],
            },
        )

    def tiling(self, index: int) -> Tiling:
        return Tiling(
            *(
                int(a[index])
                for a in (self.tm, self.tn, self.tr, self.tc, self.ip, self.wp, self.op)
            )
        )

    def tilings(self) -> list[Tiling]:
        return [self.tiling(i) for i in range(len(self))]
