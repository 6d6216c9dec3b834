"""Hypervolume against a brute-force count of unit cells; true fronts against brute force."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coexplore.tabular.accuracy import AccuracyTable
from coexplore.tabular.fronts import hypervolume, reference_point, true_front
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
