"""bench/nb201_coexplore.py with identical networks credited: a run that trained one copy of a
front network scores the best copy's accuracy on the `hv-credited` lines, and only there."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from coexplore.compare.runs import StrategyRun
from coexplore.spaces import Nb201Arch, Nb201Space
from coexplore.storage import TrialRecord, TrialState
from coexplore.tabular.accuracy import AccuracyTable
from coexplore.tabular.benchmark import Benchmark
from coexplore.tabular.hardware import METRICS, HardwareTable

SPACE = Nb201Space()
# Indices 10 and 20 compute network 0 on the same hardware; 30 is network 1, slower.
INDICES = np.array([10, 20, 30])
ACCURACY = np.array([0.90, 0.92, 0.80])
FPS = np.array([300.0, 300.0, 200.0])


def _bench(computation):
    metrics = {m: FPS.copy() for m in METRICS}
    hardware = HardwareTable(INDICES, metrics, np.zeros((3, 1, 10), dtype=np.int64))
    accuracy = AccuracyTable(INDICES, ACCURACY, "test", computation)
    return Benchmark(SimpleNamespace(space=SPACE), accuracy, hardware, None, 100.0, 0.5)


def _trial(number, index):
    row = int(np.searchsorted(INDICES, index))
    fps = float(FPS[row])
    return TrialRecord(
        number, number, 0, "coexplore", TrialState.COMPLETE, f"k{index}",
        SPACE.to_json(Nb201Arch.from_index(index)), None,
        {"fps": fps, "gops_per_w": fps},
        0.0, "", 0, 0.0, 1.0, {}, meets_spec=True, accuracy=float(ACCURACY[row]),
    )  # fmt: skip


def _lines(bench_module, bench, capsys):
    run = StrategyRun("coexplore", 0, Path("."), (_trial(0, 10), _trial(1, 30)), 1.0)
    bench_module.print_final_lines({"coexplore": [run]}, bench, bench_module.credits(bench))
    return [line for line in capsys.readouterr().out.splitlines() if line]


def test_a_trained_copy_scores_the_best_copy_on_the_credited_lines_only(load_bench, capsys):
    module = load_bench("nb201_coexplore")
    bench = _bench(np.array([0, 0, 1]))
    lines = _lines(module, bench, capsys)
    plain = (300 - 100) * (0.90 - 0.5) / ((300 - 100) * (0.92 - 0.5))  # the copy drawn: 0.90
    assert lines[0] == f"hypervolume fps: coexplore {plain:.3f}/{plain:.3f}/{plain:.3f}"
    assert "hv-credited fps: coexplore 1.000/1.000/1.000" in lines
    assert len(lines) == 4 and lines[2].startswith("hv-credited fps:")


def test_without_computation_ids_there_are_no_credited_lines(load_bench, capsys):
    module = load_bench("nb201_coexplore")
    lines = _lines(module, _bench(None), capsys)
    assert [line.split(":")[0] for line in lines] == ["hypervolume fps", "hypervolume gops_per_w"]
