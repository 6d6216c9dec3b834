"""Hypervolume against a brute-force count of unit cells; true fronts against brute force."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coexplore.results.pareto import hypervolume, reference_point
from coexplore.tabular.accuracy import AccuracyTable
from coexplore.tabular.fronts import identical_best, true_front
from coexplore.tabular.hardware import METRICS, HardwareTable

points = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=8)


def _cells(pts, ref):
    """Unit cells [x, x+1] x [y, y+1] above `ref` dominated by some point (integers only)."""
    rx, ry = ref
    return sum(
        any(px >= x + 1 and py >= y + 1 for px, py in pts)
        for x in range(rx, 13)
        for y in range(ry, 13)
    )


@given(points, st.tuples(st.integers(0, 6), st.integers(0, 6)))
def test_hypervolume_equals_the_dominated_area(pts, ref):
    assert hypervolume(pts, ref) == _cells(pts, ref)


@given(points, st.tuples(st.integers(0, 12), st.integers(0, 12)))
def test_adding_a_point_never_lowers_the_hypervolume(pts, extra):
    assert hypervolume([*pts, extra], (0, 0)) >= hypervolume(pts, (0, 0))


def test_reference_points():
    assert reference_point("fps", 250.0, 0.85) == (250.0, 0.85)
    assert reference_point("gops_per_w", 250.0, 0.85) == (0.0, 0.85)


def _tables(seed=0, n=60):
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(15625, n, replace=False))
    accuracy = AccuracyTable(indices, rng.uniform(0.8, 0.95, n), "test")
    metrics = {m: rng.uniform(100.0, 400.0, n) for m in METRICS}
    metrics["fps"][:5] = 0.0  # no design fits these
    return accuracy, HardwareTable(indices, metrics, np.zeros((n, 1, 10), dtype=np.int64))


@pytest.mark.parametrize("metric", ["fps", "gops_per_w"])
def test_true_front_is_the_non_dominated_feasible_set(metric):
    accuracy, table = _tables()
    spec, ref = 200.0, (0.0, 0.8)
    front = true_front(accuracy, table, metric, spec, ref)
    ok = (table.metrics["fps"] >= spec) & (table.metrics["fps"] > 0)
    pts = list(zip(table.metrics[metric][ok], accuracy.accuracy[ok], strict=True))
    brute = {p for p in pts if not any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in pts)}
    assert set(front.points) == brute
    assert front.feasible == int(ok.sum())
    assert front.hypervolume == pytest.approx(hypervolume(pts, ref))
    for index, point in zip(front.indices, front.points, strict=True):
        row = int(np.searchsorted(table.indices, index))
        assert (table.metrics[metric][row], accuracy.accuracy[row]) == point


@st.composite
def copies(draw):
    """A small table where several cells compute the same network (few ids, few metric values)."""
    n = draw(st.integers(1, 24))
    indices = np.array(sorted(draw(st.sets(st.integers(0, 15624), min_size=n, max_size=n))))
    acc = np.array(draw(st.lists(st.floats(0.5, 0.95), min_size=n, max_size=n)))
    ids = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    fps = np.array(draw(st.lists(st.sampled_from([150.0, 250.0, 300.0]), min_size=n, max_size=n)))
    metrics = {m: fps.copy() for m in METRICS}
    table = HardwareTable(indices, metrics, np.zeros((n, 1, 10), dtype=np.int64))
    return AccuracyTable(indices, acc, "test", ids), table


@given(copies(), st.data())
def test_identical_best_is_the_best_copy_and_never_beats_the_true_front(tables, data):
    accuracy, table = tables
    credit = identical_best(accuracy, table, "fps")
    fps = table.metrics["fps"]
    for row, index in enumerate(accuracy.indices.tolist()):
        copies_of = (accuracy.computation == accuracy.computation[row]) & (fps == fps[row])
        assert credit[index] == accuracy.accuracy[copies_of].max() >= accuracy.accuracy[row]
    found = data.draw(st.lists(st.sampled_from(range(len(fps))), unique=True))
    points = [(fps[r], credit[int(accuracy.indices[r])]) for r in found if fps[r] >= 200.0]
    ref = reference_point("fps", 200.0, 0.5)
    assert hypervolume(points, ref) <= true_front(accuracy, table, "fps", 200.0, ref).hypervolume


def test_without_computation_ids_each_cell_keeps_its_accuracy():
    accuracy, table = _tables()
    credit = identical_best(accuracy, table, "gops_per_w")
    assert credit == dict(zip(accuracy.indices.tolist(), accuracy.accuracy.tolist(), strict=True))
    shared = dataclasses.replace(accuracy, computation=np.zeros(len(accuracy.indices), int))
    table.metrics["gops_per_w"][:] = 7.0  # one network, one hardware point: all credited alike
    assert set(identical_best(shared, table, "gops_per_w").values()) == {accuracy.accuracy.max()}
