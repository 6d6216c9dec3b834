"""A tabular benchmark for one config: accuracy table + hardware table + true fronts.

`load_benchmark(config)` reads the accuracy CSV (`data.root` or $COEXPLORE_NB201_CSV; column
`data.accuracy_column`), loads or
builds the hardware table of the architectures it lists on the config's pool, and offers the
fast-exploration front end that reads that table (`explorer`), so a run's loop does not
recompute any design.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coexplore.config import Config
from coexplore.datasets import DATASETS
from coexplore.errors import InputError
from coexplore.hardware.devices import Precision
from coexplore.results.pareto import reference_point
from coexplore.tabular.accuracy import AccuracyTable, csv_path, load_accuracy_table
from coexplore.tabular.explorer import TableExplorer
from coexplore.tabular.fronts import TrueFront, true_front
from coexplore.tabular.hardware import HardwareProblem, HardwareTable, load_or_build

HW_METRICS = ("fps", "gops_per_w")  # the two fronts the paper reports


@dataclass(frozen=True, eq=False)
class Benchmark:
    problem: HardwareProblem
    accuracy: AccuracyTable
    hardware: HardwareTable
    explorer: TableExplorer
    spec_fps: float
    accuracy_floor: float  # the hypervolume reference accuracy (reward.acc_bounds low)

    def reference(self, metric: str) -> tuple[float, float]:
        return reference_point(metric, self.spec_fps, self.accuracy_floor)

    def front(self, metric: str) -> TrueFront:
        return true_front(
            self.accuracy, self.hardware, metric, self.spec_fps, self.reference(metric)
        )


def is_tabular(config: Config) -> bool:
    """Whether the config's dataset is a table of accuracies (`DATASETS`: nb201_table)."""
    return DATASETS[config.data.dataset].table


def load_benchmark(
    config: Config,
    workers: int = 2,
    cache: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> Benchmark:
    """The benchmark of a tabular config (ValueError in one line for anything else)."""
    from coexplore.problem import dataset_shape, make_pool, make_space, make_spec

    if not is_tabular(config) or config.space.name != "nb201":
        raise InputError(
            "a tabular benchmark needs data.dataset 'nb201_table' and space.name 'nb201'"
        )
    accuracy = load_accuracy_table(csv_path(None, config.data.root), config.data.accuracy_column)
    shape, classes = dataset_shape(config)
    problem = HardwareProblem(
        make_space(config),
        make_pool(config),
        Precision(config.hardware.precisions[0]),
        shape,
        classes,
    )
    hardware = load_or_build(problem, accuracy.indices, cache, workers, say)
    spec = make_spec(config)
    return Benchmark(
        problem,
        accuracy,
        hardware,
        TableExplorer(problem, hardware, spec),
        config.spec.fps,
        config.reward.acc_bounds[0],
    )
