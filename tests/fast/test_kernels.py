"""The compiled loops (fast/kernels.py) give what the numpy code they replace gives."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.fast import dp
from coexplore.fast.optimal import cut_link_seconds
from coexplore.hardware.devices import Precision
from coexplore.hardware.pipeline import link_seconds
from coexplore.spaces import Nb201Space
from coexplore.spaces.unet import UnetSpace
from coexplore.tabular.indexing import arch_at


@st.composite
def dp_cases(draw):
    counts = tuple(draw(st.lists(st.integers(0, 2), min_size=1, max_size=3)))
    layers = draw(st.integers(1, 6))
    # few distinct values and some inf: ties everywhere, impossible stages too
    values = draw(
        st.lists(
            st.sampled_from([0.5, 1.0, 2.0, 3.0, np.inf]),
            min_size=len(counts) * layers * layers,
            max_size=len(counts) * layers * layers,
        )
    )
    cost = dp.upper_triangle(np.array(values).reshape(len(counts), layers, layers))
    return cost, counts, draw(st.integers(1, 4))


@settings(max_examples=150, deadline=None)
@given(dp_cases(), st.sampled_from(["max", "add"]))
def test_compiled_dp_equals_the_numpy_dp_ties_included(case, how):
    cost, counts, most = case
    combine = np.maximum if how == "max" else np.add

    def numpy_only(a, b):  # not np.maximum / np.add itself: takes the numpy path
        return combine(a, b)

    compiled = dp.solve(cost, counts, most, combine)
    reference = dp.solve(cost, counts, most, numpy_only)
    assert compiled == reference


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 15624), st.integers(0, 2**31), st.sampled_from([1.0, 10.0, 3.3]))
def test_cut_link_seconds_equal_link_seconds_at_every_cut(index, seed, gbps):
    unet = UnetSpace(levels=3)
    workloads = (
        Nb201Space().workload(arch_at(Nb201Space(), index), (3, 32, 32), 10),  # skips
        unet.workload(unet.sample(np.random.default_rng(seed)), (1, 64, 64), 2),
    )
    for work in workloads:
        for precision in Precision:
            got = cut_link_seconds(work, gbps, precision)
            want = [link_seconds(work, j, gbps, precision) for j in range(len(work) - 1)]
            assert got.tolist() == [*want, 0.0]
