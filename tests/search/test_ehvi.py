"""The closed-form expected hypervolume improvement equals the improvement of the exact 2-D
hypervolume, averaged over the Gaussian accuracy by fine quadrature."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.results.pareto import hypervolume, staircase
from coexplore.search.strategies.ehvi import expected_improvement

coordinate = st.floats(0.0, 10.0, allow_nan=False)
points = st.lists(st.tuples(coordinate, coordinate), max_size=8)


def _quadrature(x, mean, std, front, reference):
    ys = np.linspace(mean - 9 * std, mean + 9 * std, 6001)
    base = hypervolume(front, reference)
    gain = np.array([hypervolume([*front, (x, y)], reference) - base for y in ys])
    weight = np.exp(-0.5 * ((ys - mean) / std) ** 2)
    return float(np.trapezoid(gain * weight, ys) / np.trapezoid(weight, ys))


@settings(max_examples=60, deadline=None)
@given(
    front=points,
    reference=st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 3.0)),
    x=coordinate,
    mean=coordinate,
    std=st.floats(0.05, 3.0),
)
def test_closed_form_matches_quadrature_of_the_exact_hypervolume(front, reference, x, mean, std):
    closed = expected_improvement(
        np.array([x]), np.array([mean]), np.array([std]), front, reference
    )[0]
    assert closed >= 0.0
    assert abs(closed - _quadrature(x, mean, std, front, reference)) < 1e-4 * (1 + closed)


@settings(deadline=None)  # no timing: the shared machine can stall any example
@given(front=points, x=coordinate, y=coordinate)
def test_without_uncertainty_it_is_the_exact_improvement(front, x, y):
    reference = (1.0, 1.0)
    exact = hypervolume([*front, (x, y)], reference) - hypervolume(front, reference)
    got = expected_improvement(np.array([x]), np.array([y]), np.array([0.0]), front, reference)
    assert abs(got[0] - exact) < 1e-7 * (1 + exact)  # std floored at 1e-9


def test_staircase_of_a_two_point_front():
    levels, dominated = staircase([(5.0, 2.0), (2.0, 4.0)], (1.0, 1.0))
    assert levels.tolist() == [1.0, 2.0, 4.0]
    # up to accuracy 2 both points cover x up to 5; up to 4 only the second (x 2); above, none
    assert dominated.tolist() == [5.0, 2.0, 1.0]


@settings(deadline=None)
@given(front=points, reference=st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 3.0)))
def test_the_staircase_area_is_the_exact_hypervolume(front, reference):
    levels, dominated = staircase(front, reference)
    area = float(np.sum((dominated[:-1] - reference[0]) * np.diff(levels)))
    assert abs(area - hypervolume(front, reference)) < 1e-9
