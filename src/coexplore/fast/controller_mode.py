"""`controller` fast-exploration mode (faithful to the paper): the controller emits hardware
tokens and this module turns them into a design and a hardware-only reward.

Per FPGA slot (one slot per device of the pool) the tokens are: device kind, number of layers
assigned (0 = slot unused), Tm, Tn and the square spatial tile T. Slots run in order as pipeline
stages; the last used slot takes any layers left over. The port split is not a token: for the
chosen tile it is set to the best split (decided: a split is a wiring choice the tools make).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coexplore.fast.grid import PE_VALUES, TILE_VALUES, port_splits
from coexplore.hardware.accelerator import Tiling, layer_cycles
from coexplore.hardware.devices import Pool, Precision, Spec
from coexplore.hardware.pipeline import (
    Evaluation,
    HardwareDesign,
    StageDesign,
    evaluate_design,
)
from coexplore.spaces.base import TokenType
from coexplore.workload import Workload

PE_CHOICES = tuple(v for v in PE_VALUES if v <= 64)
TILE_CHOICES = tuple(v for v in TILE_VALUES if v <= 32)
TOKENS_PER_SLOT = 5


def hardware_tokens(pool: Pool, max_layers: int) -> tuple[TokenType, ...]:
    kinds = tuple(d.name for d in pool.kinds)
    tokens = []
    for slot in range(len(pool.devices)):
        tokens += [
            TokenType(f"fpga{slot}.device", "hw_device", kinds),
            TokenType(f"fpga{slot}.layers", "hw_layers", tuple(range(max_layers + 1))),
            TokenType(f"fpga{slot}.tm", "hw_tm", PE_CHOICES),
            TokenType(f"fpga{slot}.tn", "hw_tn", PE_CHOICES),
            TokenType(f"fpga{slot}.tile", "hw_tile", TILE_CHOICES),
        ]
    return tuple(tokens)


@dataclass(frozen=True)
class HardwareJudgement:
    design: HardwareDesign | None
    evaluation: Evaluation | None
    reason: str  # '' when the design fits and meets the spec
    reward: float  # hardware-only reward in [-1, 1]: -1 when unusable


def judge_tokens(
    indices: tuple[int, ...],
    workload: Workload,
    pool: Pool,
    spec: Spec,
    precision: Precision = Precision.FIXED16,
) -> HardwareJudgement:
    design, reason = decode(indices, workload, pool, precision)
    if design is None:
        return HardwareJudgement(None, None, reason, -1.0)
    ev = evaluate_design(workload, design, pool, spec)
    if not ev.feasible:
        return HardwareJudgement(design, ev, ev.reason, -1.0)
    # Meeting the spec is worth 0; more throughput earns up to 1 at twice the spec.
    reward = float(np.clip(ev.fps / spec.fps - 1.0, 0.0, 1.0)) if spec.fps else 1.0
    return HardwareJudgement(design, ev, "", reward)


def decode(
    indices: tuple[int, ...], workload: Workload, pool: Pool, precision: Precision
) -> tuple[HardwareDesign | None, str]:
    kinds = pool.kinds
    n, first, stages = len(workload), 0, []
    slots = [indices[s : s + TOKENS_PER_SLOT] for s in range(0, len(indices), TOKENS_PER_SLOT)]
    used = [slot for slot in slots if slot[1] > 0]
    if not used:
        return None, "hardware tokens assign no layer to any FPGA"
    for number, (kind, count, tm, tn, tile) in enumerate(used):
        last = n - 1 if number == len(used) - 1 else min(first + count, n) - 1
        if first > last:
            break  # earlier slots already took every layer
        device = kinds[kind]
        tiling = _best_split(
            workload,
            first,
            last,
            PE_CHOICES[tm],
            PE_CHOICES[tn],
            TILE_CHOICES[tile],
            device.port_words(precision),
            pool.fill,
        )
        stages.append(StageDesign(device.name, first, last, tiling))
        first = last + 1
    return HardwareDesign(tuple(stages), precision), ""


def _best_split(
    workload: Workload,
    first: int,
    last: int,
    tm: int,
    tn: int,
    tile: int,
    port_words: int,
    fill: bool,
) -> Tiling:
    splits = port_splits(max(port_words, 3))
    grid = type(
        "Splits",
        (),
        {
            "tm": tm,
            "tn": tn,
            "tr": tile,
            "tc": tile,
            "ip": np.array([s[0] for s in splits]),
            "wp": np.array([s[1] for s in splits]),
            "op": np.array([s[2] for s in splits]),
        },
    )
    total = sum(
        np.broadcast_to(layer_cycles(layer, grid, fill), (len(splits),))
        for layer in workload.layers[first : last + 1]
    )
    ip, wp, op = splits[int(np.argmin(total))]
    return Tiling(tm, tn, tile, tile, ip, wp, op)
