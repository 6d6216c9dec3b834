"""A search never trains one network twice: on NAS-Bench-201, where many cells compute one
network (one `computation_key`), the loop trains each network once, in a batch and across
batches, and every other cell of it takes that training's accuracy."""

import dataclasses
import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from coexplore import wiring as run
from coexplore.config import load_config, to_dict
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.search.strategy import Candidate, Outcome, Strategy
from coexplore.slow.jobs import JobResult, TrainJob
from coexplore.slow.trainer import TrainResult
from coexplore.spaces import Nb201Arch, Nb201Space
from coexplore.storage import RunStorage, TrialState

SPACE = Nb201Space()


def _cells_of(key_count: int, copies: int) -> list[list[int]]:
    """`key_count` networks with at least `copies` spec-meeting cells each (indices, first
    found first): cells whose output is reached, so each has layers of its own."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index in range(0, 15625, 7):
        key = SPACE.computation_key(Nb201Arch.from_index(index))
        if key.count("nor_conv") >= 1:
            by_key[key].append(index)
    found = [cells[:copies] for cells in by_key.values() if len(cells) >= copies]
    return found[:key_count]


NETWORKS = _cells_of(4, 3)  # a, b, c, d: three cells of each
A, B, C, D = NETWORKS
BATCHES = [  # two copies of a in the first batch; later batches repeat a, b and c by copies
    [A[0], A[1], B[0], C[0]],
    [A[2], B[1], D[0], C[0]],
    [D[1], B[2], C[1], C[2]],
]


class ListStrategy(Strategy):
    """Asks the cells of `BATCHES` in turn (no state but the batch it is at)."""

    def __init__(self) -> None:
        self.batch = 0

    def ask(self, n: int) -> list[Candidate]:
        cells = BATCHES[self.batch]
        assert n == len(cells)
        return [Candidate(Nb201Arch.from_index(i)) for i in cells]

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        self.batch += 1

    def state_bytes(self) -> bytes:
        return json.dumps(self.batch).encode()

    def load_state(self, blob: bytes) -> None:
        self.batch = json.loads(blob)


def cell_train(job: TrainJob) -> JobResult:
    """An accuracy of the cell itself (so a copy trained again would score differently); logs
    the network it trains to $COEXPLORE_FAKE_LOG."""
    arch = SPACE.from_json(job.arch_json)
    with open(os.environ["COEXPLORE_FAKE_LOG"], "a") as handle:
        handle.write(SPACE.computation_key(arch) + "\n")
    acc = 0.5 + arch.index / 40000
    scored = dict.fromkeys(job.precisions, acc)
    return JobResult(TrainResult(True, acc, (acc,), (0.1,), 0.01, 1), accuracy_at=scored)


def _search(tmp_path: Path):
    overrides = {
        "space.name": "nb201", "space.layers": 0, "run.trials": 12, "run.batch": 4,
        "spec.fps": 1.0, "hardware.precisions": ["fixed16"],
    }  # fmt: skip
    config = load_config("quick", overrides=overrides)
    setup = dataclasses.replace(
        run.build_setup(config), strategy=ListStrategy(), train_fn=cell_train
    )
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        run_search(setup, storage, LocalExecutor())
        return storage.trials()


def test_the_cells_really_share_networks_and_differ():
    keys = [{SPACE.computation_key(Nb201Arch.from_index(i)) for i in cells} for cells in NETWORKS]
    assert len(NETWORKS) == 4 and all(len(k) == 1 for k in keys)
    assert len(set().union(*keys)) == 4
    assert all(len(set(cells)) == 3 for cells in NETWORKS)


def test_each_network_trains_once_and_its_copies_take_its_accuracy(tmp_path, monkeypatch):
    log = tmp_path / "trained.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    trials = _search(tmp_path)
    trained = log.read_text().split("\n")[:-1]
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 4
    assert all(t.state is TrialState.COMPLETE for t in trials)
    first = {}
    for t in trials:
        arch = SPACE.from_json(t.arch)
        assert t.network_key == SPACE.computation_key(arch)
        if t.reused_from is None:
            assert t.attempts > 0 and t.network_key not in first
            assert t.accuracy == pytest.approx(0.5 + arch.index / 40000)
            first[t.network_key] = t
        else:
            assert t.attempts == 0 and trials[t.reused_from] == first[t.network_key]
            assert t.accuracy == first[t.network_key].accuracy
    # Trained: a, b, c in the first batch (a's second copy waits for it), d in the second.
    reused = [t.reused_from is not None for t in trials]
    assert reused == [False, True, False, False, True, True, False, True, True, True, True, True]
