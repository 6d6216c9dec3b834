"""bench/nb201_ceiling.py: the ratio a search that trains each network (computation key) once
can expect, when one network is split into several `UniqueString` classes, on a table this
test writes."""

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from coexplore.spaces import Nb201Arch, Nb201Space
from coexplore.tabular.accuracy import ARCH_COLUMN, COLUMNS, load_accuracy_table
from coexplore.tabular.benchmark import Benchmark
from coexplore.tabular.hardware import METRICS, HardwareTable

SPACE = Nb201Space()
# Cells 75 and 76 compute one network (a 3x3 convolution alone), which the table writes as two
# classes; cell 50 is another network; cell 1001 (a skip alone) misses the spec however accurate
# it is.
CELLS = {75: ("u1", 0.90, 300.0), 76: ("u2", 0.94, 300.0), 50: ("u3", 0.80, 400.0),
         1001: ("u4", 0.99, 50.0)}  # fmt: skip
SPEC_FPS, FLOOR = 100.0, 0.5


def _bench(tmp_path: Path) -> Benchmark:
    path = tmp_path / "table.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([ARCH_COLUMN, COLUMNS["cifar10"], "UniqueString"])
        for index, (network, accuracy, _) in CELLS.items():
            writer.writerow([Nb201Arch.from_index(index).to_string(), 100 * accuracy, network])
    indices = np.array(sorted(CELLS))
    fps = np.array([CELLS[i][2] for i in indices])
    metrics = {m: fps / 100 if m == "gops_per_w" else fps.copy() for m in METRICS}
    hardware = HardwareTable(indices, metrics, np.zeros((len(indices), 1, 10), dtype=np.int64))
    accuracy = load_accuracy_table(path)
    return Benchmark(SimpleNamespace(space=SPACE), accuracy, hardware, None, SPEC_FPS, FLOOR)


def test_the_two_classes_are_one_network():
    keys = {i: SPACE.computation_key(Nb201Arch.from_index(i)) for i in CELLS}
    assert keys[75] == keys[76] and len(set(keys.values())) == 3


def test_the_ceiling_scores_one_cell_of_each_network_at_its_class(load_bench, tmp_path):
    module = load_bench("nb201_ceiling")
    bench = _bench(tmp_path)
    assert sorted(len(g) for g in module.networks(bench)) == [1, 2]  # 1001 misses the spec
    # Above (100 FPS, 0.5): the true front over classes is 300 FPS at 0.94 and 400 at 0.80.
    front = 200 * 0.44 + 100 * 0.30
    ratios, by_key = module.ceiling(bench, "fps", 400, 0)
    drawn_75, drawn_76 = (200 * 0.40 + 100 * 0.30) / front, 1.0
    assert set(np.round(ratios, 12)) == {round(drawn_75, 12), drawn_76}
    assert np.mean(ratios) == pytest.approx((drawn_75 + drawn_76) / 2, abs=0.01)
    assert by_key == pytest.approx((200 * 0.42 + 100 * 0.30) / front)
