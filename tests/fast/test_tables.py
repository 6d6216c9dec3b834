"""The optimiser's shortcuts equal the model: cycle tables, stage windows, and every bound is
below the exact value it stands for."""

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coexplore.fast.grid import TilingGrid, TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.fast.shapes import LayerShapes, skyline
from coexplore.fast.stages import Stages, stage_windows
from coexplore.fast.tables import CycleTables, TableStore
from coexplore.hardware.accelerator import layer_cycles, window_limits
from coexplore.hardware.devices import Pool, Precision, get_device
from coexplore.workload import FUNCTIONS, Layer, LayerKind, Workload

SPACE = TilingSpace(tm_values=(1, 2, 3, 8), tn_values=(1, 4, 6), t_values=(1, 2, 3, 5, 7, 16))


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(list(LayerKind)))
    n, m = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    r, c = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    k, s = draw(st.sampled_from([1, 3, 5])), draw(st.integers(1, 3))
    cols = draw(st.sampled_from([0, 0, 1, 3, 7]))  # rectangular kernels too (0: square)
    if kind is LayerKind.FC:
        return Layer(kind, n, m, 1, 1)
    if kind in (LayerKind.DWCONV, LayerKind.POOL):
        return Layer(kind, m, m, r, c, k, s, kernel_cols=cols)
    if kind is LayerKind.UPSAMPLE:
        return Layer(kind, m, m, 2 * r, 2 * c, 1, 1, in_rows=r, in_cols=c)
    if kind in (LayerKind.ACT, LayerKind.SCALE, LayerKind.NORM):
        function = draw(st.sampled_from(FUNCTIONS)) if kind is LayerKind.ACT else ""
        return Layer(kind, m, m, r, c, bias=draw(st.booleans()), function=function)
    return Layer(kind, n, m, r, c, k, s, kernel_cols=cols)


@settings(max_examples=60, deadline=None)
@given(layers(), st.sampled_from(["XC7A50T", "XCZU3EG"]), st.booleans())
def test_cycle_tables_equal_the_model_on_every_tiling(layer, device, fill):
    grid = TilingGrid.build(get_device(device), Precision.FIXED16, SPACE)
    model = np.asarray(layer_cycles(layer, grid, fill), dtype=np.float64)
    flat = np.broadcast_to(model, (len(grid),))
    table = CycleTables(grid, fill).cycles(layer)
    assert np.array_equal(table.reshape(-1), flat)
    store = TableStore(CycleTables(grid, fill))  # conv and fc: computed again, not stored
    shape = store.id_of(("any",), layer)
    assert np.array_equal(store.cycles(np.array([shape]), np.arange(len(grid)))[0], flat)
    assert np.array_equal(store.low[shape], table.min(axis=1))


def workloads():
    return st.lists(layers(), min_size=1, max_size=7).map(lambda ls: Workload(tuple(ls), (3, 8, 8)))


@settings(max_examples=40, deadline=None)
@given(workloads())
def test_stage_windows_and_shape_counts_follow_the_layers(work):
    windows, shapes = stage_windows(work), LayerShapes.of(work)
    keys = [layer.shape_key() for layer in work.layers]
    for i in range(len(work)):
        for j in range(i, len(work)):
            assert tuple(windows[i, j]) == window_limits(work.layers[i : j + 1])
            counted = dict(zip(shapes.keys, shapes.between(i, j), strict=True))
            assert all(counted[key] == keys[i : j + 1].count(key) for key in counted)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads(), st.integers(1, 8), st.integers(3000, 3400))
def test_bounds_are_below_the_exact_values(work, dsp, luts):
    device = dataclasses.replace(get_device("XC7Z020"), name="D", dsp=dsp, luts=luts)
    explorer = OptimalExplorer(Pool((device,)), precision=Precision.FIXED16, space=SPACE)
    stages = Stages(explorer.device_tables[0], LayerShapes.of(work), stage_windows(work))
    loose = stages.group_bounds()
    for i in range(len(work)):
        for j in range(i, len(work)):
            exact = stages.fastest(i, j)
            assert loose[i, j] <= exact
            if not np.isfinite(exact):
                assert np.isinf(loose[i, j])  # no block fits: both say so
                continue
            for limit in (exact, 2 * exact):
                power = stages.least_power_bounds(limit, np.ones((len(work),) * 2, bool))
                pick = stages.cheapest(i, j, limit)
                assert pick is not None and power[i, j] <= pick.power_w


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda dims: st.tuples(
            st.lists(
                st.lists(st.integers(0, 6), min_size=dims, max_size=dims), min_size=1, max_size=40
            ),
            st.lists(st.integers(0, 5), min_size=dims, max_size=dims),
        )
    )
)
def test_skyline_keeps_the_least_of_every_weighted_sum(case):
    columns, weights = case
    values = np.array(columns, dtype=float).T  # [criterion, column]
    kept = skyline(values)
    assert len(set(kept.tolist())) == len(kept)
    sums = np.array(weights) @ values
    assert sums[kept].min() == sums.min()


def test_a_workload_met_again_is_solved_on_exact_stage_times_with_the_same_answer():
    from coexplore.hardware.devices import load_catalog, parse_pool
    from coexplore.spaces import Nb201Space
    from coexplore.tabular.indexing import arch_at

    space = Nb201Space()
    explorer = OptimalExplorer(parse_pool("2xXC7Z020+1xXC7A50T", 10.0, load_catalog(None)))
    work = space.workload(arch_at(space, 4242), (3, 32, 32), 10)  # a cell of 4 live ops
    first = explorer.explore(work)
    assert not any(t.skylines_kept for t in explorer.device_tables)
    again = explorer.explore(work)
    # the second time, every stage's time is exact
    assert any(t.skylines_kept for t in explorer.device_tables)
    assert (again.design, again.evaluation) == (first.design, first.evaluation)


def test_the_table_store_keeps_every_table_as_it_grows():
    grid = TilingGrid.build(get_device("XC7A50T"), Precision.FIXED16, SPACE)
    store, tables = TableStore(CycleTables(grid)), CycleTables(grid)
    shapes = [
        Layer(LayerKind.POOL if n % 7 == 3 else LayerKind.CONV, 1 + n, 8, 4 + n % 5, 4 + n % 5, 3)
        for n in range(150)
    ]
    for n, layer in enumerate(shapes):
        assert store.id_of(("s", n), layer) == n
    assert store.id_of(("s", 7), shapes[7]) == 7  # known: not computed again
    every_row = np.arange(len(grid))
    for n, layer in enumerate(shapes):
        full, low = tables.tables(layer)
        assert np.array_equal(store.cycles(np.array([n]), every_row)[0], full.reshape(-1))
        assert np.array_equal(store.low[n], low)
