"""Strict equality check of the exact fast exploration across versions of its code.

Runs `OptimalExplorer.explore` on a fixed set of random workloads (chain, NAS-Bench-201,
ImageNet-style and U-Net architectures) over several pools (homogeneous and heterogeneous, with
and without UltraRAM), the three precisions, pipeline fill on and off, and specs without and with
an FPS, latency or FPGA-count requirement, and records every answer: the design (devices, layer
groups, tilings), the reason, and the metrics as exact floats (repr). `--save` writes them to a
JSON file; `--check` recomputes them and reports every case whose answer differs in any way.
The optimiser's speed-ups must never change an answer: run `--save` on the code before a change
and `--check` after it.

Each (pool, precision, fill) configuration uses one explorer for its whole stream of workloads,
as a search does (memo tables fill as it goes), and the first workloads of each configuration
are solved again by a fresh explorer, so answers must not depend on what was memoised.

Usage: .venv/bin/python bench/fast_equality.py (--save | --check) FILE [--cases 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coexplore.fast.optimal import FastResult, OptimalExplorer
from coexplore.hardware.devices import Pool, Precision, Spec, parse_pool
from coexplore.spaces import ChainSpace, Nb201Space
from coexplore.spaces.imagenet import ImagenetSpace
from coexplore.spaces.unet import UnetSpace
from coexplore.workload import Workload

FIXED_POOLS = (
    "1xXC7A50T+1xXC7Z015+1xXC7Z020+1xXCZU3EG",  # the speed bench's pool
    "2xXC7Z020+1xXC7A50T",  # the nb201 preset's pool
    "3xXC7Z020",
    "1xXCZU7EV+2xXC7Z015",  # UltraRAM next to block RAM only devices
    "1xXC7A50T",
)
FP32_POOLS = (  # fp32 needs a port of at least 3 x 32 bits
    "1xXCZU3EG+1xXCZU7EV",
    "2xXC7Z045+1xXCZU3EG",
    "1xXC7VX485T+1xXCZU9EG",
)
FRESH = 2  # workloads per configuration solved again by a fresh explorer


@dataclass(frozen=True)
class Case:
    name: str
    pool: str
    precision: Precision
    fill: bool
    workload: Workload
    spec: Spec


def _workloads(rng: np.random.Generator, count: int) -> Iterator[tuple[str, Workload]]:
    depth = int(rng.integers(3, 15))
    spaces = [
        ("chain", ChainSpace(depth=depth, stride_mode="predictable"), (3, 32, 32)),
        ("nb201", Nb201Space(), (3, 32, 32)),
        ("imagenet", ImagenetSpace(depth=8), (3, 64, 64)),
        ("unet", UnetSpace(levels=3), (1, 64, 64)),
        ("chain", ChainSpace(depth=14, stride_mode="predictable"), (3, 32, 32)),
    ]
    for n in range(count):
        label, space, shape = spaces[n % len(spaces)]
        yield f"{label}{n}", space.workload(space.sample(rng), shape, 10)


def _cases(total: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    configs = [
        (pool, precision, fill)
        for precision, pools in (
            (Precision.FIXED16, FIXED_POOLS),
            (Precision.FIXED8, FIXED_POOLS),
            (Precision.FP32, FP32_POOLS),
        )
        for pool in pools
        for fill in (True, False)
    ]
    per = max(1, total // len(configs))
    cases = []
    for pool, precision, fill in configs:
        for name, workload in _workloads(rng, per):
            spec = _spec(rng)
            cases.append(Case(name, pool, precision, fill, workload, spec))
    return cases


def _spec(rng: np.random.Generator) -> Spec:
    pick = int(rng.integers(0, 6))
    if pick == 3:
        return Spec(fps=float(rng.choice([10.0, 100.0, 1000.0])))
    if pick == 4:
        return Spec(latency_ms=float(rng.choice([2.0, 10.0, 50.0])))
    if pick == 5:
        return Spec(fps=float(rng.choice([10.0, 100.0])), max_fpgas=int(rng.integers(1, 3)))
    return Spec()


def _answer(result: FastResult) -> dict[str, object]:
    out: dict[str, object] = {"reason": result.reason}
    out["design"] = result.design.to_json() if result.design else None
    if result.evaluation is not None:
        out["metrics"] = {k: repr(v) for k, v in result.evaluation.metrics().items()}
        out["gops_per_w"] = repr(result.evaluation.gops_per_w)
    return out


def answers(total: int, seed: int) -> tuple[dict[str, dict[str, object]], float]:
    """Every case's answer by name, and the CPU seconds of exploring."""
    cases, out, seconds = _cases(total, seed), {}, 0.0
    explorers: dict[tuple[str, Precision, bool], OptimalExplorer] = {}
    fresh_left: dict[tuple[str, Precision, bool], int] = {}
    for index, case in enumerate(cases):
        config = (case.pool, case.precision, case.fill)
        pool: Pool = parse_pool(case.pool, fill=case.fill)
        if config not in explorers:
            explorers[config] = OptimalExplorer(pool, Spec(), case.precision)
            fresh_left[config] = FRESH
        key = f"{index:04d} {case.name} {case.pool} {case.precision.value} fill={case.fill}"
        key += f" {case.spec}"
        start = time.process_time()
        out[key] = _answer(explorers[config].explore(case.workload, case.spec))
        if fresh_left[config]:
            fresh_left[config] -= 1
            fresh = OptimalExplorer(pool, Spec(), case.precision)
            again = _answer(fresh.explore(case.workload, case.spec))
            if again != out[key]:
                out[key] = {"memo-dependent": True, "stream": out[key], "fresh": again}
        seconds += time.process_time() - start
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--save", type=Path, help="write the answers here")
    what.add_argument("--check", type=Path, help="compare with answers saved earlier")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    got, seconds = answers(args.cases, args.seed)
    print(f"{len(got)} cases explored in {seconds:.1f} s CPU")
    if args.save:
        args.save.write_text(json.dumps({"cases": args.cases, "seed": args.seed, "answers": got}))
        print(f"saved to {args.save}")
        return
    saved = json.loads(args.check.read_text())
    if (saved["cases"], saved["seed"]) != (args.cases, args.seed):
        sys.exit(f"{args.check} holds --cases {saved['cases']} --seed {saved['seed']}")
    expected = saved["answers"]
    differ = [k for k in expected if got.get(k) != expected[k]]
    differ += [k for k in got if k not in expected]
    for key in differ[:10]:
        print(f"DIFFERS {key}\n  was {expected.get(key)}\n  now {got.get(key)}")
    print(f"{len(got) - len(differ)}/{len(got)} answers identical to {args.check}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
