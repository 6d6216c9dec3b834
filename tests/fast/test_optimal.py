"""The exact optimiser equals brute force, and it prunes with a reason."""

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coexplore.fast.brute import brute_force
from coexplore.fast.grid import TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Pool, Precision, Spec, get_device, parse_pool
from coexplore.workload import Layer, LayerKind, Workload

SMALL_SPACE = TilingSpace(tm_values=(1, 2, 4), tn_values=(1, 2), t_values=(1, 2, 4))


@st.composite
def layers(draw):
    kind = draw(st.sampled_from([LayerKind.CONV, LayerKind.CONV, LayerKind.FC, LayerKind.POOL,
                                 LayerKind.ACT, LayerKind.SCALE, LayerKind.NORM]))  # fmt: skip
    n, m = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    if kind is LayerKind.FC:
        return Layer(kind, n * 4, m, 1, 1)
    rc, k, s = draw(st.integers(1, 6)), draw(st.sampled_from([1, 3])), draw(st.integers(1, 2))
    if kind is LayerKind.POOL:
        return Layer(kind, m, m, rc, rc, k, s)
    if kind in (LayerKind.ACT, LayerKind.SCALE, LayerKind.NORM):
        return Layer(kind, m, m, rc, rc, function="silu" if kind is LayerKind.ACT else "")
    cols = draw(st.sampled_from([k, 1, 3]))  # square, 1 x k or k x 3 (rectangular kernels)
    return Layer(kind, n, m, rc, rc, k, s, kernel_cols=cols)


@st.composite
def devices(draw, name, precision):
    # Zynq-7000 (DSP48E1, no URAM) or Zynq UltraScale+ (DSP48E2, URAM): both pack 8-bit pairs.
    base = get_device(draw(st.sampled_from(["XC7Z020", "XCZU7EV"])))
    power = dataclasses.replace(
        base.power,
        dsp_mw=draw(st.floats(0.5, 2.0)),
        lut_mw_per_k=draw(st.floats(1.0, 8.0)),
        uram_mw=draw(st.floats(0.5, 3.0)),
    )
    return dataclasses.replace(
        base,
        name=name,
        dsp=draw(st.integers(1, 8)) * precision.dsp_per_mac,  # fp32 lanes take 5 slices
        bram18k=draw(st.integers(0, 12)),  # block RAM binds: buffers spill to URAM or misfit
        uram=draw(st.integers(0, 4)) if base.uram else 0,
        luts=draw(st.integers(3000, 3400)),  # LUT-RAM and lanes make this bind
        ffs=draw(st.integers(4000, 4400)),
        port_bits=draw(st.sampled_from([3, 4])) * precision.word_bits,  # 3 or 4 words
        clock_mhz=draw(st.sampled_from([100.0, 150.0])),
        static_w=draw(st.floats(0.05, 0.5)),
        power=power,
    )


@st.composite
def instances(draw):
    n_layers = draw(st.integers(1, 4))
    work = Workload(tuple(draw(layers()) for _ in range(n_layers)), (3, 8, 8))
    precision = draw(st.sampled_from(list(Precision)))
    kinds = [draw(devices("A", precision)), draw(devices("B", precision))]
    max_devices = {1: 3, 2: 3, 3: 2, 4: 2}[n_layers]
    picks = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_devices))
    pool = Pool(tuple(picks), link_gbps=draw(st.sampled_from([0.001, 0.01, 10.0])))
    pool = dataclasses.replace(pool, fill=draw(st.booleans()))
    spec = Spec(
        fps=draw(st.sampled_from([0.0, 100.0, 2000.0])),
        max_fpgas=draw(st.sampled_from([None, 1, 2])),
        latency_ms=draw(st.sampled_from([None, None, 5.0])),
    )
    return work, pool, spec, precision


@settings(
    max_examples=int(__import__("os").environ.get("BRUTE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(instances())
def test_optimal_equals_brute_force(instance):
    work, pool, spec, precision = instance
    expected = brute_force(work, pool, spec, precision, SMALL_SPACE)
    got = OptimalExplorer(pool, spec, precision, SMALL_SPACE).explore(work)
    if expected is None:
        assert got.pruned, "optimiser found a design brute force says cannot exist"
        return
    assert not got.pruned, got.reason
    assert got.evaluation is not None and got.evaluation.feasible
    assert abs(got.evaluation.fps - expected.fps) <= 1e-9 * expected.fps
    if spec.latency_ms is None:  # with a latency bound only FPS is exact (documented)
        assert abs(got.evaluation.gops_per_w - expected.gops_per_w) <= 1e-9 * expected.gops_per_w


MEMORY_SPACE = TilingSpace(tm_values=(1, 2, 3), tn_values=(1, 2), t_values=(4, 12))


@st.composite
def memory_instances(draw):
    """Big tiles on devices short of block RAM: buffers spill to UltraRAM or misfit, so the
    aspect-ratio, packing and URAM rules decide which designs exist."""
    precision = draw(st.sampled_from([Precision.FIXED8, Precision.FIXED16, Precision.FP32]))
    base = get_device("XCZU7EV")
    kinds = [
        dataclasses.replace(
            base,
            name=name,
            dsp=draw(st.integers(1, 4)) * precision.dsp_per_mac,
            bram18k=draw(st.integers(0, 4)),
            uram=draw(st.integers(0, 8)),
            port_bits=3 * precision.word_bits,
            clock_mhz=draw(st.sampled_from([100.0, 200.0])),
        )
        for name in ("A", "B")
    ]
    layers = tuple(
        Layer(LayerKind.CONV, draw(st.integers(1, 4)), draw(st.integers(1, 4)),
              draw(st.integers(4, 12)), draw(st.integers(4, 12)),
              draw(st.sampled_from([3, 5])), draw(st.integers(1, 2)))
        for _ in range(draw(st.integers(1, 3)))
    )  # fmt: skip
    picks = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2))
    pool = Pool(tuple(picks), link_gbps=10.0, fill=draw(st.booleans()))
    return Workload(layers, (4, 24, 24)), pool, precision


@settings(
    max_examples=int(__import__("os").environ.get("BRUTE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(memory_instances())
def test_optimal_equals_brute_force_when_memory_binds(instance):
    work, pool, precision = instance
    expected = brute_force(work, pool, Spec(), precision, MEMORY_SPACE)
    got = OptimalExplorer(pool, Spec(), precision, MEMORY_SPACE).explore(work)
    if expected is None:
        assert got.pruned
        return
    assert got.evaluation is not None and got.evaluation.feasible, got.reason
    assert abs(got.evaluation.fps - expected.fps) <= 1e-9 * expected.fps
    assert abs(got.evaluation.gops_per_w - expected.gops_per_w) <= 1e-9 * expected.gops_per_w


def chain(depth=6):
    out, c, h = [], 3, 32
    for i in range(depth):
        s = 2 if i % 3 == 2 else 1
        h = -(-h // s)
        out.append(Layer(LayerKind.CONV, c, 48, h, h, 3 + 2 * (i % 2), s, name=f"c{i}"))
        c = 48
    out.append(Layer(LayerKind.FC, c * h * h, 10, 1, 1, name="fc"))
    return Workload(tuple(out), (3, 32, 32))


def test_impossible_spec_is_pruned_with_a_reason():
    pool = parse_pool("1xXC7A50T")
    result = OptimalExplorer(pool, Spec(fps=1e9)).explore(chain())
    assert result.pruned and "< spec 1e+09 FPS" in result.reason
    assert result.seconds < 1.0


def test_feasible_spec_returns_a_design_that_meets_it():
    pool = parse_pool("2xXC7Z020+1xXC7A50T")
    explorer = OptimalExplorer(pool, Spec())
    best = explorer.explore(chain()).evaluation
    assert best is not None
    result = explorer.explore(chain(), Spec(fps=best.fps * 0.99))
    assert not result.pruned and result.evaluation.fps >= best.fps * 0.99
    assert all(not s.over_budget for s in result.evaluation.stages)


def test_a_layer_that_fits_no_device_names_itself():
    tiny = dataclasses.replace(get_device("XC7A50T"), name="TINY", luts=100)
    result = OptimalExplorer(Pool((tiny,))).explore(chain())
    assert result.pruned and "layer 0" in result.reason and "LUT" in result.reason


def test_more_devices_never_lower_fps():
    one = OptimalExplorer(parse_pool("1xXC7Z020")).explore(chain()).evaluation
    two = OptimalExplorer(parse_pool("2xXC7Z020")).explore(chain()).evaluation
    assert two.fps >= one.fps
