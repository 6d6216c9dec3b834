"""The neutral Pareto helpers (coexplore.results.pareto) against the definition: a point is
dominated by another at least as large in both coordinates and not equal to it."""

from hypothesis import given
from hypothesis import strategies as st

from coexplore.results.pareto import pareto_front, pareto_fronts

# few distinct values, so that ties and repeated points are common
POINTS = st.lists(
    st.tuples(st.sampled_from([0.1, 0.5, 0.7, 0.9]), st.sampled_from([1.0, 2.0, 3.0])),
    max_size=25,
)


def dominates(a, b):
    return a[0] >= b[0] and a[1] >= b[1] and a != b


def sorted_by_definition(points):
    """Non-dominated sorting straight from the definition (what search.fidelity used to have)."""
    left, fronts = list(range(len(points))), []
    while left:
        front = [i for i in left if not any(dominates(points[j], points[i]) for j in left)]
        fronts.append(front)
        left = [i for i in left if i not in front]
    return fronts


@given(POINTS)
def test_non_dominated_sorting_follows_the_definition_with_every_copy(points):
    assert pareto_fronts(points) == sorted_by_definition(points)


@given(POINTS)
def test_the_front_keeps_one_copy_of_a_repeated_point_unless_asked_for_all(points):
    first = sorted_by_definition(points)[0] if points else []
    with_repeats = pareto_front(points, repeats=True)
    assert sorted(with_repeats) == first
    single = pareto_front(points)
    assert sorted({points[i] for i in single}) == sorted({points[i] for i in first})
    assert len(single) == len({points[i] for i in single}), "one copy of each point"
    assert all(points[i] != points[j] or i <= j for i in single for j in first), "the first copy"
    assert [points[i][0] for i in single] == sorted(points[i][0] for i in single)
