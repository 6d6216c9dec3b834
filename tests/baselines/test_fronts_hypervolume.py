"""Hypervolume against a brute-force count of unit cells; true fronts against brute force;
network accuracies (the mean over a network's copies)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coexplore.results.pareto import hypervolume, reference_point
from coexplore.tabular.accuracy import AccuracyTable, network_means
from coexplore.tabular.fronts import true_front
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
    """A small table where several cells compute the same network (few ids)."""
    n = draw(st.integers(1, 24))
    indices = np.array(sorted(draw(st.sets(st.integers(0, 15624), min_size=n, max_size=n))))
    acc = np.array(draw(st.lists(st.floats(0.5, 0.95), min_size=n, max_size=n)))
    ids = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    return AccuracyTable(indices, acc, "test", ids)


@given(copies())
def test_a_network_scores_the_mean_over_its_copies(accuracy):
    means = network_means(accuracy)
    assert np.array_equal(means.indices, accuracy.indices) and means.source == accuracy.source
    for row in range(len(accuracy.indices)):
        copies_of = accuracy.computation == accuracy.computation[row]
        assert means.accuracy[row] == pytest.approx(accuracy.accuracy[copies_of].mean())
        assert means.lookup(int(accuracy.indices[row])) == means.accuracy[row]
    alone = np.bincount(accuracy.computation)[accuracy.computation] == 1
    assert np.array_equal(means.accuracy[alone], accuracy.accuracy[alone])


def test_without_computation_ids_each_cell_is_its_own_network():
    accuracy, _ = _tables()
    assert network_means(accuracy) is accuracy
    shared = dataclasses.replace(accuracy, computation=np.zeros(len(accuracy.indices), int))
    assert set(network_means(shared).accuracy.tolist()) == {accuracy.accuracy.mean()}
