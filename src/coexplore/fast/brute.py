"""Brute force over every design: the reference the exact optimiser is tested against.

Only usable on tiny instances (a few layers, a small tiling space): it enumerates every
partition, every ordered choice of devices and every tiling of every stage.
"""

from __future__ import annotations

from itertools import combinations, permutations, product

from coexplore.fast.grid import TilingGrid, TilingSpace
from coexplore.hardware.devices import Pool, Precision, Spec
from coexplore.hardware.pipeline import Evaluation, HardwareDesign, StageDesign, evaluate_design
from coexplore.workload import Workload


def brute_force(
    workload: Workload,
    pool: Pool,
    spec: Spec,
    precision: Precision = Precision.FIXED16,
    space: TilingSpace | None = None,
) -> Evaluation | None:
    """Best evaluation by (FPS, then GOPS/W) among designs that fit and meet the spec."""
    space = space or TilingSpace()
    tilings = {d.name: TilingGrid.build(d, precision, space).tilings() for d in pool.kinds}
    best: Evaluation | None = None
    for cuts in _partitions(len(workload)):
        for names in _assignments(pool, len(cuts), spec.max_fpgas):
            for chosen in product(*(tilings[name] for name in names)):
                stages = tuple(
                    StageDesign(name, first, last, tiling)
                    for name, (first, last), tiling in zip(names, cuts, chosen, strict=True)
                )
                ev = evaluate_design(workload, HardwareDesign(stages, precision), pool, spec)
                if ev.feasible and (best is None or _key(ev) > _key(best)):
                    best = ev
    return best


def _key(ev: Evaluation) -> tuple[float, float]:
    return (round(ev.fps, 9), round(ev.gops_per_w, 9))


def _partitions(layers: int) -> list[list[tuple[int, int]]]:
    out = []
    for stages in range(1, layers + 1):
        for cut in combinations(range(1, layers), stages - 1):
            bounds = [0, *cut, layers]
            out.append([(bounds[s], bounds[s + 1] - 1) for s in range(stages)])
    return out


def _assignments(pool: Pool, stages: int, max_fpgas: int | None) -> set[tuple[str, ...]]:
    if max_fpgas is not None and stages > max_fpgas:
        return set()
    names = [d.name for d in pool.devices]
    return set(permutations(names, stages)) if stages <= len(names) else set()
