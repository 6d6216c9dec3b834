"""The tabular benchmark's tables: index bijection, the accuracy CSV, the cached hardware table
and the explorer that reads it."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from baseline_helpers import write_table
from hypothesis import given
from hypothesis import strategies as st

from coexplore import wiring as run
from coexplore.config import DataConfig, TrainConfig, load_config
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Precision, Spec, load_catalog, parse_pool
from coexplore.slow.jobs import TrainJob
from coexplore.spaces import ChainSpace, Nb201Arch, Nb201Space
from coexplore.tabular import hardware
from coexplore.tabular.accuracy import ENV_VAR, TableTrainer, csv_path, load_accuracy_table
from coexplore.tabular.explorer import TableExplorer
from coexplore.tabular.indexing import arch_at, index_of

NB201 = Nb201Space()
POOL = parse_pool("2xXC7Z020+1xXC7A50T", 10.0, load_catalog(None))
PROBLEM = hardware.HardwareProblem(NB201, POOL, Precision.FIXED16, (3, 32, 32), 10)
SOME = np.array([3, 777, 4242, 9000, 15624])


@given(st.integers(0, NB201.size() - 1))
def test_nb201_index_is_the_spaces_own_bijection(index):
    assert arch_at(NB201, index) == Nb201Arch.from_index(index)
    assert index_of(NB201, arch_at(NB201, index)) == index


def test_every_index_of_a_small_space_is_a_distinct_architecture():
    space = ChainSpace(depth=2)
    archs = [arch_at(space, i) for i in range(space.size())]
    assert len({a.key for a in archs}) == space.size()
    assert [index_of(space, a) for a in archs] == list(range(space.size()))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        arch_at(space, space.size())


def test_accuracy_rows_are_matched_by_architecture_string(tmp_path):
    expected = write_table(tmp_path / "t.csv", SOME)
    table = load_accuracy_table(tmp_path / "t.csv")
    assert list(table.indices) == sorted(SOME)
    for index, acc in expected.items():
        assert table.lookup(index) == pytest.approx(acc)
    with pytest.raises(ValueError, match="no accuracy for architecture index 5"):
        table.lookup(5)


def test_cells_computing_the_same_network_share_one_computation_id(tmp_path):
    same = {777: "net-a", 9000: "net-a", 15624: "net-b"}
    write_table(tmp_path / "t.csv", SOME, same=same)
    table = load_accuracy_table(tmp_path / "t.csv")
    ids = dict(zip(table.indices.tolist(), table.computation.tolist(), strict=True))
    assert ids[777] == ids[9000]
    assert len({ids[3], ids[777], ids[4242], ids[15624]}) == 4
    plain = tmp_path / "plain.csv"  # the same file without its UniqueString column
    rows = (tmp_path / "t.csv").read_text().splitlines()
    plain.write_text("\n".join(line.rsplit(",", 1)[0] for line in rows) + "\n")
    assert load_accuracy_table(plain).computation is None


def test_csv_path_explicit_then_root_then_environment(tmp_path, monkeypatch):
    for name in ("a.csv", "b.csv", "c.csv"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "c.csv"))
    assert csv_path(tmp_path / "a.csv", str(tmp_path / "b.csv")).name == "a.csv"
    assert csv_path(None, str(tmp_path / "b.csv")).name == "b.csv"
    assert csv_path(None, "").name == "c.csv"
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(ValueError, match=ENV_VAR):
        csv_path(None, "")
    with pytest.raises(ValueError, match="no such file"):
        csv_path(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ArchitectureString,Other\n|none~0|,1\n", "missing column"),
        ("CIFAR10TestAccuracy200Epochs,ArchitectureString\n", "no rows"),
        ("CIFAR10TestAccuracy200Epochs,ArchitectureString\n90,|bad~0|\n", ":2:"),
        (
            "CIFAR10TestAccuracy200Epochs,ArchitectureString\n900,"
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n",
            "percentage",
        ),
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / f"bad{len(text)}.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_accuracy_table(path)
    assert "\n" not in str(info.value)


def test_table_trainer_returns_the_tabulated_accuracy(tmp_path):
    expected = write_table(tmp_path / "t.csv", SOME)
    trainer = TableTrainer(str(tmp_path / "t.csv"))
    data = DataConfig("nb201_table", "", 0.1, 0.1, 0)
    for index in SOME:
        job = TrainJob(NB201.to_json(arch_at(NB201, int(index))), data, 0, TrainConfig(), 0)
        assert trainer(job).train.val_accuracy == pytest.approx(expected[int(index)])


def test_a_tabular_run_trains_from_the_table(tmp_path, monkeypatch):
    write_table(tmp_path / "t.csv", SOME)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "t.csv"))
    config = load_config("nb201")
    assert isinstance(run.build_setup(config).train_fn, TableTrainer)
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(ValueError, match=ENV_VAR):
        run.build_setup(config)
    chain = load_config("nb201", overrides={"space.name": "chain", "data.root": "x.csv"})
    with pytest.raises(ValueError, match=r"needs space\.name 'nb201'"):
        run.build_setup(chain)


@pytest.fixture(scope="module")
def some_table():
    return hardware.table_rows(PROBLEM, SOME)


def test_hardware_rows_are_the_exact_explorers_answers(some_table):
    explorer = OptimalExplorer(POOL, Spec())
    for row, index in enumerate(SOME):
        workload = NB201.workload(arch_at(NB201, int(index)), (3, 32, 32), 10)
        best = explorer.explore(workload)
        assert some_table.metrics["fps"][row] == pytest.approx(best.evaluation.fps)
        assert some_table.metrics["gops_per_w"][row] == pytest.approx(best.evaluation.gops_per_w)
        assert some_table.design(row, POOL, Precision.FIXED16) == best.design


def test_hardware_table_is_cached_by_what_it_depends_on(some_table, tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "build_table", lambda problem, indices, *args: some_table)
    first = hardware.load_or_build(PROBLEM, SOME, tmp_path, workers=1)

    def refuse(*args):
        raise AssertionError("a cached table must not be recomputed")

    monkeypatch.setattr(hardware, "build_table", refuse)
    again = hardware.load_or_build(PROBLEM, SOME, tmp_path, workers=1)
    assert np.array_equal(again.stages, first.stages)
    assert all(np.array_equal(again.metrics[m], first.metrics[m]) for m in hardware.METRICS)
    other = dataclasses.replace(PROBLEM, pool=parse_pool("1xXC7Z020", 10.0, load_catalog(None)))
    with pytest.raises(AssertionError, match="recomputed"):
        hardware.load_or_build(other, SOME, tmp_path, workers=1)
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_two_worker_build_equals_one_process(some_table):
    parallel = hardware.build_table(PROBLEM, SOME, workers=2)
    assert np.array_equal(parallel.stages, some_table.stages)
    assert np.array_equal(parallel.metrics["fps"], some_table.metrics["fps"])


@pytest.mark.parametrize("spec_fps", [0.0, 250.0, 1e6])
def test_table_explorer_answers_like_the_exact_explorer(some_table, spec_fps):
    table_explorer = TableExplorer(PROBLEM, some_table)
    exact = OptimalExplorer(POOL, Spec())
    for index in (*SOME[:3], 12):  # 12 is not tabulated: recomputed
        workload = NB201.workload(arch_at(NB201, int(index)), (3, 32, 32), 10)
        got, want = table_explorer.explore(workload, Spec(spec_fps)), exact.explore(workload)
        assert got.pruned == (want.evaluation.fps < spec_fps)
        if index != 12:  # a tabulated design comes back even when it misses the spec
            assert got.design == want.design
            assert got.evaluation.fps == pytest.approx(want.evaluation.fps)


def test_rows_equal_those_the_optimiser_gave_before_its_speed_up():
    """Golden rows written by the optimiser as it was before issue 15 (re-recorded by that
    optimiser under the issue-11 hardware model; same pool), then re-recorded for issue 31's
    workloads (only live ops, in the cell graph's canonical order) by the optimiser that gave
    the earlier rows exactly: a faster optimiser must give the same designs and the same
    metrics, to the last bit."""
    golden = json.loads((Path(__file__).parent / "data/nb201_rows_before_issue15.json").read_text())
    indices = np.array(golden["indices"])
    table = hardware.table_rows(PROBLEM, indices)
    assert np.array_equal(table.stages, np.array(golden["stages"]))
    for name in hardware.METRICS:
        assert table.metrics[name].tolist() == golden["metrics"][name], name
