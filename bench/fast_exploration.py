"""Fast-exploration speed: the exact optimal design per architecture, and brute force.

Prints
- the median milliseconds per architecture of `OptimalExplorer.explore` for random 14-layer
  chain architectures (CIFAR input, predictable stride) on a heterogeneous 4-FPGA pool, on one
  core: "cold" (a fresh explorer per architecture: every layer table computed) and "warm" (one
  explorer for the whole stream, as in a search, memo tables filling as shapes appear);
- the speed-up over brute force, on instances brute force can finish (3-layer workloads,
  2-FPGA pool, a reduced tiling space), with a check that both find the same FPS and GOPS/W.

Times are CPU time of this process (time.process_time), which is the wall time on a quiet core
and stays meaningful on a busy machine.

Usage: .venv/bin/python bench/fast_exploration.py [--archs 200] [--brute 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from coexplore.fast.brute import brute_force
from coexplore.fast.grid import TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Precision, Spec, parse_pool
from coexplore.spaces import ChainSpace

POOL = "1xXC7A50T+1xXC7Z015+1xXC7Z020+1xXCZU3EG"
SHAPE = (3, 32, 32)


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def per_arch_ms(archs: int, seed: int) -> tuple[list[float], list[float], list[float]]:
    space = ChainSpace(depth=14, stride_mode="predictable")
    rng = np.random.default_rng(seed)
    workloads = [space.workload(space.sample(rng), SHAPE, 10) for _ in range(archs)]
    pool = parse_pool(POOL)
    cold = []
    for w in workloads[: max(10, archs // 10)]:
        explorer = OptimalExplorer(pool, Spec())  # built once per run in a search: not timed
        start = time.process_time()
        explorer.explore(w)
        cold.append(1e3 * (time.process_time() - start))
    explorer = OptimalExplorer(pool, Spec())
    warm = []
    for w in workloads:  # a search's stream: memo tables fill as new layer shapes appear
        start = time.process_time()
        explorer.explore(w)
        warm.append(1e3 * (time.process_time() - start))
    cached = []
    for w in workloads:  # the same stream again: every layer table is memoised
        start = time.process_time()
        explorer.explore(w)
        cached.append(1e3 * (time.process_time() - start))
    return cold, warm, cached


def brute_comparison(instances: int, seed: int) -> list[tuple[float, float, bool]]:
    space = TilingSpace(tm_values=(1, 2, 4, 8), tn_values=(1, 2, 4), t_values=(2, 4, 8))
    chain = ChainSpace(depth=2, stride_mode="predictable")
    rng = np.random.default_rng(seed)
    pool = parse_pool("1xXC7A50T+1xXC7Z020")
    rows = []
    for _ in range(instances):
        workload = chain.workload(chain.sample(rng), (3, 8, 8), 10)  # 2 convs + fc
        start = time.process_time()
        expected = brute_force(workload, pool, Spec(), Precision.FIXED16, space)
        brute_s = time.process_time() - start
        start = time.process_time()
        got = OptimalExplorer(pool, Spec(), Precision.FIXED16, space).explore(workload)
        exact_s = time.process_time() - start
        same = (
            expected is not None
            and got.evaluation is not None
            and np.isclose(expected.fps, got.evaluation.fps, rtol=1e-9)
            and np.isclose(expected.gops_per_w, got.evaluation.gops_per_w, rtol=1e-9)
        )
        rows.append((brute_s, exact_s, bool(same)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--brute", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    one_core()
    cold, warm, cached = per_arch_ms(args.archs, args.seed)
    print(f"pool {POOL}; random 14-layer chain architectures (+ fc), input {SHAPE}, one core")
    cold_ms = statistics.median(cold)
    print(f"  cold (new explorer each time, {len(cold)} archs): median {cold_ms:.2f} ms")
    print(
        f"  warm (one explorer, {len(warm)} archs in a stream): median "
        f"{statistics.median(warm):.2f} ms, p90 {np.percentile(warm, 90):.2f} ms, "
        f"last half median {statistics.median(warm[len(warm) // 2 :]):.2f} ms"
    )
    cached_ms = statistics.median(cached)
    print(f"  all tables memoised (the same {len(cached)} archs again): median {cached_ms:.2f} ms")
    if args.brute <= 0:  # no brute-force instances asked for: nothing to compare
        return
    rows = brute_comparison(args.brute, args.seed)
    brute_total, exact_total = sum(r[0] for r in rows), sum(r[1] for r in rows)
    print(
        f"brute force vs exact optimiser on {len(rows)} instances (3 layers, 2 FPGAs, "
        f"reduced tiling space): brute {brute_total:.1f} s, exact {exact_total * 1e3:.1f} ms, "
        f"speed-up {brute_total / exact_total:,.0f}x; same answer on "
        f"{sum(r[2] for r in rows)}/{len(rows)}"
    )


if __name__ == "__main__":
    main()
