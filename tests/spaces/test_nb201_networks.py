"""Every NATS-Bench network has one hardware cost on the nb201 preset's pool, over all 15,625 cells.

A network is a class of NATS-Bench's `UniqueString`: from the real table when
$COEXPLORE_NB201_CSV names it, else from a table this test writes with the UniqueStrings of an
independent reference (`nb201_reference.unique_string`, checked against the real file's column
when it is there, and against rows of it quoted below when it is not). The UniqueString is a
tree that cannot see which ops are shared: it writes a 3x3 convolution added to itself and two
3x3 convolutions of one input alike. Such cells are different networks with different weights
and workloads; everywhere else a class has one workload, and so one cost.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from nb201_reference import convolutions, symbolic, unique_string

from coexplore.config import load_config
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Precision, Spec
from coexplore.problem import dataset_shape, make_pool, make_space
from coexplore.spaces import Nb201Arch
from coexplore.spaces.nb201 import NUM_ARCHS
from coexplore.tabular.accuracy import ARCH_COLUMN, COLUMNS, ENV_VAR, load_accuracy_table
from coexplore.tabular.hardware import METRICS, HardwareProblem, load_or_build

CONFIG = load_config("nb201")
SPACE = make_space(CONFIG)
SHAPE, CLASSES = dataset_shape(CONFIG)
REAL_TABLE = os.environ.get(ENV_VAR, "")
# Rows of the NATS-Bench file (ArchitectureString, UniqueString); the first two are one class.
NATS_ROWS = [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|",
     "#+#+(0)@nor_conv_3x3+(0)@nor_conv_3x3"),
    ("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|skip_connect~1|skip_connect~2|",
     "#+#+(0)@nor_conv_3x3+(0)@nor_conv_3x3"),
    ("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|", "#+(#+#)@nor_conv_3x3+0"),
    ("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|skip_connect~2|", "#+#+#+0"),
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
     "skip_connect~2|",
     "(0)@avg_pool_3x3+(0)@avg_pool_3x3+(0)@nor_conv_1x1+(0)@nor_conv_1x1"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
     "skip_connect~2|",
     "((0)@nor_conv_3x3)@avg_pool_3x3+(0)@nor_conv_3x3+((0)@nor_conv_3x3)@nor_conv_3x3+0"),
]  # fmt: skip


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Per cell index, the id of its UniqueString class."""
    path = Path(REAL_TABLE) if REAL_TABLE else tmp_path_factory.mktemp("nats") / "table.csv"
    if not REAL_TABLE:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([ARCH_COLUMN, COLUMNS["cifar10"], "UniqueString"])
            for index in range(NUM_ARCHS):
                arch = Nb201Arch.from_index(index)
                writer.writerow([arch.to_string(), 50.0, unique_string(arch.ops)])
    table = load_accuracy_table(path)
    assert table.computation is not None and np.array_equal(table.indices, np.arange(NUM_ARCHS))
    return table.computation


@pytest.fixture(scope="module")
def workloads() -> list[tuple[object, ...]]:
    """Per cell index, everything of its workload the hardware model reads (not the names)."""
    signatures = []
    for index in range(NUM_ARCHS):
        workload = SPACE.workload(Nb201Arch.from_index(index), SHAPE, CLASSES)
        layers = tuple(layer.shape_key() for layer in workload.layers)
        signatures.append((layers, workload.skips, workload.params, workload.macs))
    return signatures


def weights(index: int) -> tuple[tuple[str, int], ...]:
    """How many convolutions of each kind the cell really has (the reference's count)."""
    found = convolutions(symbolic(Nb201Arch.from_index(index).ops))
    return tuple(sorted(Counter(op for op, _ in found).items()))


def same_network_and_weights(networks: np.ndarray) -> dict[tuple[int, object], list[int]]:
    groups: dict[tuple[int, object], list[int]] = defaultdict(list)
    for index in range(NUM_ARCHS):
        groups[(int(networks[index]), weights(index))].append(index)
    return groups


def test_the_reference_writes_natsbench_unique_strings() -> None:
    for text, unique in NATS_ROWS:
        assert unique_string(Nb201Arch.from_string(text).ops) == unique
    if REAL_TABLE:
        with open(REAL_TABLE, newline="") as handle:
            for row in csv.DictReader(handle):
                arch = Nb201Arch.from_string(row[ARCH_COLUMN])
                assert unique_string(arch.ops) == row["UniqueString"], row[ARCH_COLUMN]


def test_a_network_has_one_workload_unless_its_cells_share_weights_differently(
    networks: np.ndarray, workloads: list[tuple[object, ...]]
) -> None:
    groups = same_network_and_weights(networks)
    assert all(len({workloads[i] for i in cells}) == 1 for cells in groups.values())
    by_network: dict[int, list[int]] = defaultdict(list)
    for index in range(NUM_ARCHS):
        by_network[int(networks[index])].append(index)
    several = {n for n, cells in by_network.items() if len({workloads[i] for i in cells}) > 1}
    shared = {n for n, cells in by_network.items() if len({weights(i) for i in cells}) > 1}
    assert several == shared and len(shared) == 430  # NATS-Bench classes of several networks


def test_cells_of_one_computation_key_have_one_workload(
    workloads: list[tuple[object, ...]],
) -> None:
    by_key: dict[str, set[tuple[object, ...]]] = defaultdict(set)
    for index in range(NUM_ARCHS):
        by_key[SPACE.computation_key(Nb201Arch.from_index(index))].add(workloads[index])
    assert all(len(signatures) == 1 for signatures in by_key.values())


def test_the_exact_explorer_gives_each_network_one_cost(networks: np.ndarray) -> None:
    """Cells of one network explored one by one (not deduplicated by workload)."""
    explorer = OptimalExplorer(make_pool(CONFIG), Spec(), Precision(CONFIG.hardware.precisions[0]))
    groups = sorted(same_network_and_weights(networks).values())
    for cells in [g for g in groups if len(g) > 1][::100]:
        costs = set()
        for index in cells[:: max(1, len(cells) // 4)]:
            result = explorer.explore(SPACE.workload(Nb201Arch.from_index(index), SHAPE, CLASSES))
            assert result.evaluation is not None
            costs.add(tuple(result.evaluation.metrics()[m] for m in METRICS))
        assert len(costs) == 1, cells


@pytest.mark.slow
@pytest.mark.skipif(not REAL_TABLE, reason=f"the cached hardware table is built with ${ENV_VAR}")
def test_the_hardware_table_gives_each_network_one_cost(networks: np.ndarray) -> None:
    """The bench's own table of the preset (built into the cache, a few CPU-minutes, if missing)."""
    problem = HardwareProblem(
        SPACE, make_pool(CONFIG), Precision(CONFIG.hardware.precisions[0]), SHAPE, CLASSES
    )
    table = load_or_build(problem, np.arange(NUM_ARCHS))
    for cells in same_network_and_weights(networks).values():
        for metric in METRICS:
            assert len(set(table.metrics[metric][cells].tolist())) == 1, (metric, cells)
