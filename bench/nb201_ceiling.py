"""The best network-level hypervolume ratio a search that trains each network once can expect.

`bench/nb201_coexplore.py` scores a network as NATS-Bench's `UniqueString` class, at the mean
accuracy of its cells. But our computation key (`SearchSpace.computation_key`, docs/spaces.md)
finds that 688 networks are written as several `UniqueString`s (a node's terms sorted as text),
so one network can be several classes, each the mean of a few of its separately trained cells:
the true front then takes the luckiest class. A search that never trains a network twice (the
loop reuses any earlier cell of a computation key) trains one cell of each network it finds,
and scores that cell's class. This script gives, per plane, the ratio such a search reaches at
best, having found every spec-meeting network:
- `ceiling <metric>`: each network scored at the class of one of its cells drawn uniformly
  (what uniform sampling, or any choice blind to training noise, meets), mean ± std (min, max)
  over `--draws` draws;
- `key-mean <metric>`: each network scored at the mean over all its cells, the class
  boundaries ignored.
Both over the true front of the benchmark's `hypervolume` lines (over `UniqueString` classes).

Usage: COEXPLORE_NB201_CSV=PATH .venv/bin/python bench/nb201_ceiling.py [--draws 200]
         [--set section.key=value ...]   (the settings of bench/nb201_coexplore.py)
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

import numpy as np

from coexplore.commands.options import set_overrides
from coexplore.config import load_config
from coexplore.results.pareto import hypervolume
from coexplore.spaces import Nb201Arch
from coexplore.tabular.accuracy import network_means
from coexplore.tabular.benchmark import HW_METRICS, Benchmark, load_benchmark
from coexplore.tabular.fronts import true_front


def networks(bench: Benchmark) -> list[np.ndarray]:
    """The table rows of each spec-meeting network (computation key), one array each."""
    space, table, hardware = bench.problem.space, bench.accuracy, bench.hardware
    rows = np.searchsorted(hardware.indices, table.indices)
    fps = hardware.metrics["fps"][rows]
    by_key: dict[str, list[int]] = defaultdict(list)
    for row in np.nonzero((fps > 0) & (fps >= bench.spec_fps))[0]:
        arch = Nb201Arch.from_index(int(table.indices[row]))
        by_key[space.computation_key(arch)].append(int(row))
    return [np.array(cells) for cells in by_key.values()]


def ceiling(bench: Benchmark, metric: str, draws: int, seed: int) -> tuple[list[float], float]:
    """(per draw, the ratio with one uniformly drawn cell of each network scored at its
    class mean; the ratio with each network at the mean over its cells)."""
    table, hardware = bench.accuracy, bench.hardware
    values = hardware.metrics[metric][np.searchsorted(hardware.indices, table.indices)]
    by_class = network_means(table)
    classes, reference = by_class.accuracy, bench.reference(metric)
    front = true_front(by_class, hardware, metric, bench.spec_fps, reference).hypervolume
    groups = networks(bench)
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(draws):
        cells = [group[rng.integers(len(group))] for group in groups]
        points = [(float(values[c]), float(classes[c])) for c in cells]
        ratios.append(hypervolume(points, reference) / front)
    means = [(float(values[g[0]]), float(np.mean(table.accuracy[g]))) for g in groups]
    return ratios, hypervolume(means, reference) / front


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="", help="NATS-Bench accuracy CSV")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", action="append", default=[], help="config override section.key=value"
    )
    args = parser.parse_args()
    config = load_config("nb201", overrides={"data.root": args.csv, **set_overrides(args.set)})
    bench = load_benchmark(config, workers=2)
    if bench.accuracy.computation is None:
        parser.error("the CSV has no UniqueString column: every cell is its own network")
    for metric in HW_METRICS:
        ratios, by_key = ceiling(bench, metric, args.draws, args.seed)
        spread = statistics.pstdev(ratios)
        print(
            f"ceiling {metric}: {statistics.mean(ratios):.4f} ± {spread:.4f} "
            f"(min {min(ratios):.4f}, max {max(ratios):.4f}; {args.draws} draws)"
        )
        print(f"key-mean {metric}: {by_key:.4f}")


if __name__ == "__main__":
    main()
