"""bench/nb201_coexplore.py's lines for scripts, on a small table this test writes: hypervolume
by network (a network's accuracy is the mean over its copies, and a run that trained any copy
scores it), by cell (`hv-cells`), and the trainings to reach a share of the true front."""

import csv
import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from coexplore.compare.runs import StrategyRun
from coexplore.spaces import Nb201Arch, Nb201Space
from coexplore.storage import TrialRecord, TrialState
from coexplore.tabular.accuracy import ARCH_COLUMN, COLUMNS, load_accuracy_table
from coexplore.tabular.benchmark import Benchmark
from coexplore.tabular.hardware import METRICS, HardwareTable

SPACE = Nb201Space()
# Cells 10 and 20 are copies of one network on the same hardware (its accuracy: 0.92).
CELLS = {10: ("net-a", 0.90, 300.0), 20: ("net-a", 0.94, 300.0), 30: ("net-b", 0.80, 200.0),
         40: ("net-c", 0.70, 400.0)}  # fmt: skip
SPEC_FPS, FLOOR = 100.0, 0.5
RUNS = {
    "coexplore": [(10, 40), (30, 20, 40)],
    "nsga2": [(30,), (30, 40)],
}  # cells trained, in order


def _bench(tmp_path: Path, with_networks: bool = True) -> Benchmark:
    path = tmp_path / "table.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([ARCH_COLUMN, COLUMNS["cifar10"], *(["UniqueString"] * with_networks)])
        for index, (network, accuracy, _) in CELLS.items():
            arch = Nb201Arch.from_index(index).to_string()
            writer.writerow([arch, 100 * accuracy, *([network] * with_networks)])
    indices = np.array(sorted(CELLS))
    fps = np.array([CELLS[i][2] for i in indices])
    metrics = {m: fps / 100 if m == "gops_per_w" else fps.copy() for m in METRICS}
    hardware = HardwareTable(indices, metrics, np.zeros((len(indices), 1, 10), dtype=np.int64))
    accuracy = load_accuracy_table(path)
    return Benchmark(SimpleNamespace(space=SPACE), accuracy, hardware, None, SPEC_FPS, FLOOR)


def _trial(number: int, index: int) -> TrialRecord:
    _, accuracy, fps = CELLS[index]
    return TrialRecord(
        number, number, 0, "s", TrialState.COMPLETE, f"k{index}",
        SPACE.to_json(Nb201Arch.from_index(index)), None,
        {"fps": fps, "gops_per_w": fps / 100},
        0.0, "", 0, 0.0, 1.0, {}, meets_spec=True, accuracy=accuracy,
    )  # fmt: skip


def _lines(module, bench: Benchmark, capsys, monkeypatch) -> list[str]:
    monkeypatch.setattr(module, "CHECKPOINTS", (1, 2, 3))  # after 1, 2 and 3 trainings
    runs = {
        name: [
            StrategyRun(
                name, seed, Path("."), tuple(_trial(n, i) for n, i in enumerate(cells)), 1.0
            )
            for seed, cells in enumerate(seeds)
        ]
        for name, seeds in RUNS.items()
    }
    module.print_final_lines(runs, bench)
    return [line for line in capsys.readouterr().out.splitlines() if line]


def _ratios(*pairs: tuple[float, float], front: float) -> str:
    """Mean over two seeds of each hypervolume checkpoint over the front's, as printed."""
    return "/".join(f"{(a + b) / 2 / front:.3f}" for a, b in pairs)


def test_the_lines_score_networks_then_cells_then_trainings(load_bench, tmp_path, capsys,
                                                            monkeypatch):  # fmt: skip
    lines = _lines(load_bench("nb201_coexplore"), _bench(tmp_path), capsys, monkeypatch)
    # Areas above (100 FPS, 0.5): the front over networks is 400 FPS at 0.70 and 300 at 0.92.
    network_front = 300 * 0.20 + 200 * (0.92 - 0.70)
    cell_front = 300 * 0.20 + 200 * (0.94 - 0.70)
    # coexplore, seed 0 trains 10 then 40; seed 1 trains 30, 20, 40.
    by_network = _ratios((200 * 0.42, 100 * 0.3), (network_front, 200 * 0.42),
                         (network_front, network_front), front=network_front)  # fmt: skip
    by_cell = _ratios((200 * 0.40, 100 * 0.3), (300 * 0.2 + 200 * 0.2, 200 * 0.44),
                      (300 * 0.2 + 200 * 0.2, cell_front), front=cell_front)  # fmt: skip
    assert f"hypervolume fps: coexplore {by_network}" in lines
    assert f"hv-cells fps: coexplore {by_cell}" in lines
    # By computation key, cells 10 and 20 compute zeros (one key: 0.92 either way) and 30 and
    # 40 the identity (one key at 0.75, each at its own FPS): the front is 400 FPS at 0.75 and
    # 300 at 0.92.
    keys = [SPACE.computation_key(Nb201Arch.from_index(i)) for i in (10, 20, 30, 40)]
    assert keys[0] == keys[1] != keys[2] == keys[3]
    key_front = 200 * 0.42 + 100 * 0.25
    by_key = _ratios((200 * 0.42, 100 * 0.25), (key_front, 200 * 0.42), (key_front, key_front),
                     front=key_front)  # fmt: skip
    assert f"hv-keys fps: coexplore {by_key}" in lines
    # Seed 0 has the network front after 2 trainings (the cell front never), seed 1 after 3.
    assert "trainings to 0.95 fps: coexplore 2 (2 of 2 seeds)" in lines
    assert "trainings to 0.99 fps: coexplore 2 (2 of 2 seeds)" in lines
    assert "trainings to 0.95 fps: nsga2 none (0 of 2 seeds)" in lines
    heads = [re.sub(r": \S+ .*", "", line) for line in lines]
    groups = [
        f"{label} {m}"
        for label in ("hypervolume", "hv-keys", "hv-cells")
        for m in ("fps", "gops_per_w")
    ]
    groups += [f"trainings to {r} {m}" for r in ("0.95", "0.99") for m in ("fps", "gops_per_w")]
    assert heads == [group for group in groups for _ in RUNS]  # one line per strategy, in order
    for line in lines:
        assert re.fullmatch(
            r"(hypervolume|hv-keys|hv-cells) (fps|gops_per_w): \w+ \d\.\d{3}/\d\.\d{3}/\d\.\d{3}"
            r"|trainings to 0\.9[59] (fps|gops_per_w): \w+ (\d+|none) \(\d of 2 seeds\)",
            line,
        ), line


def test_without_networks_in_the_table_each_cell_is_its_own(load_bench, tmp_path, capsys,
                                                             monkeypatch):  # fmt: skip
    lines = _lines(load_bench("nb201_coexplore"), _bench(tmp_path, False), capsys, monkeypatch)
    network = {line.split(" ", 1)[1] for line in lines if line.startswith("hypervolume ")}
    cells = {line.split(" ", 1)[1] for line in lines if line.startswith("hv-cells ")}
    assert network == cells and len(network) == 4
    # By cell, coexplore's seed 0 never has the front (its copy of net-a drew 0.90), seed 1
    # after 3 trainings.
    assert "trainings to 0.95 fps: coexplore 3 (1 of 2 seeds)" in lines


@pytest.mark.parametrize(
    "curves, expected",
    [
        ([[0.96], [0.5]], (1, 1)),  # half the seeds: the lower median is the one that did
        ([[0.96], [0.5], [0.9]], (None, 1)),  # fewer than half
        ([[0.2, 0.96], [0.97], [0.1, 0.2, 0.99]], (2, 3)),
        ([[0.2, 0.94999999999999]], (2, 1)),  # rounding of a ratio that is the target
    ],
)
def test_trainings_to_a_share_of_the_front(load_bench, curves, expected):
    assert load_bench("nb201_coexplore").trainings_to(curves, 0.95) == expected


def test_a_reused_child_scores_the_cell_that_was_trained(load_bench, tmp_path):
    """The loop reuses a network's training for another cell of it (one computation key), which
    the table may write as another `UniqueString` class: the reused child scores the class of
    the trained cell, as its stored accuracy is, not that of its own untrained cell."""
    module = load_bench("nb201_coexplore")
    bench = _bench(tmp_path)
    trained, reused = _trial(0, 30), dataclasses.replace(_trial(1, 10), reused_from=0)
    network = module.scorings(bench)["networks"].accuracy
    assert network is not None
    first, second = module.scored((trained, reused), bench, network)
    assert first.accuracy == second.accuracy == pytest.approx(0.80)
    (alone,) = module.scored((_trial(1, 10),), bench, network)
    assert alone.accuracy == pytest.approx(0.92)  # trained itself: net-a's mean
