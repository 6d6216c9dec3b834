"""Time to build the whole NAS-Bench-201 hardware table (15,625 cells) from nothing.

Builds the table of the `nb201` preset (its pool and precision, CIFAR input) into a fresh cache
folder with `--workers` processes (default 2) and prints `table: 15,625 designs in S s`, then
the CPU seconds its processes used (on a busy machine, CPU seconds / workers is the wall time the
build would take with the cores to itself).
`--against PATH` then compares it with another table file of the same problem (e.g. one built by
an earlier version, in ~/.cache/coexplore) and prints how many rows differ in any metric or in
the design.

Usage: .venv/bin/python bench/nb201_table.py [--workers 2] [--keep DIR] [--against PATH]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from coexplore.config import load_config
from coexplore.hardware.devices import Precision, load_catalog, parse_pool
from coexplore.spaces import Nb201Space
from coexplore.tabular.hardware import METRICS, HardwareProblem, HardwareTable, load_or_build


def nb201_problem() -> HardwareProblem:
    config = load_config("nb201")
    devices = Path(config.hardware.devices_file) if config.hardware.devices_file else None
    pool = parse_pool(config.hardware.pool, config.hardware.link_gbps, load_catalog(devices))
    return HardwareProblem(
        Nb201Space(), pool, Precision(config.hardware.precisions[0]), (3, 32, 32), 10
    )


def differing_rows(table: HardwareTable, other: HardwareTable) -> int:
    if not np.array_equal(table.indices, other.indices):
        raise SystemExit("the two tables hold different architectures")
    differ = np.any(table.stages != other.stages, axis=(1, 2))
    for name in METRICS:
        differ |= table.metrics[name] != other.metrics[name]
    return int(differ.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build here (default: a temporary folder)")
    parser.add_argument("--against", type=Path, help="a table .npz to compare the new one with")
    args = parser.parse_args()
    problem = nb201_problem()
    with tempfile.TemporaryDirectory(prefix="nb201-table-") as scratch:
        folder = args.keep or Path(scratch)
        start = time.perf_counter()
        table = load_or_build(problem, None, folder, workers=args.workers)
        seconds = time.perf_counter() - start
    print(f"table: {len(table.indices):,} designs in {seconds:.0f} s")
    cpu = sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )
    print(f"cpu: {cpu:.0f} s in all processes ({cpu / max(1, args.workers):.0f} s per worker)")
    if args.against:
        other = HardwareTable.load(args.against)
        print(f"against {args.against}: {differing_rows(table, other)} rows differ")


if __name__ == "__main__":
    main()
