"""Device catalog, pools, specs and the pipeline metrics."""

import pytest

from coexplore.hardware.accelerator import Tiling
from coexplore.hardware.devices import (
    MAX_POOL_STATES,
    Pool,
    Precision,
    Spec,
    builtin_catalog,
    builtin_families,
    get_device,
    parse_catalog,
    parse_pool,
)
from coexplore.hardware.pipeline import HardwareDesign, StageDesign, evaluate_design
from coexplore.workload import Layer, LayerKind, Workload

# The catalog's figures (DSP, BRAM18) checked against the vendor data sheets cited in the catalog.
SPEC_FIGURES = {
    "XC7A50T": (120, 150),
    "XC7Z015": (160, 190),
    "XC7Z020": (220, 280),
    "XCZU3EG": (360, 432),
    "XCZU7EV": (1728, 624),
    "XCZU9EG": (2520, 1824),
    "XC7VX485T": (2800, 2060),
}


# Devices added with the power model (DS190, DS890): DSP, BRAM18, URAM, LUT, FF.
ADDED_FIGURES = {
    "XC7Z045": (900, 1090, 0, 218600, 437200),
    "XCKU060": (2760, 2160, 0, 331680, 663360),
    "XCZU7EV": (1728, 624, 96, 230400, 460800),
}


def test_added_devices_and_uram_follow_the_data_sheets():
    catalog = builtin_catalog()
    for name, figures in ADDED_FIGURES.items():
        d = catalog[name]
        assert (d.dsp, d.bram18k, d.uram, d.luts, d.ffs) == figures
    assert catalog["XCKU060"].power.dsp_kind == "DSP48E2"
    assert catalog["XC7Z045"].power.dsp_kind == "DSP48E1"


def test_a_user_clock_overrides_the_catalogs():
    pool = parse_pool("1xXCZU3EG+1xXC7Z020", clock_mhz=150)
    assert [d.clock_mhz for d in pool.devices] == [150.0, 150.0]
    assert [d.clock_mhz for d in parse_pool("1xXCZU3EG+1xXC7Z020").devices] == [200.0, 100.0]
    with pytest.raises(ValueError, match="clock_mhz must be > 0"):
        parse_pool("XC7Z020", clock_mhz=-1)


def test_catalog_holds_the_spec_devices_with_sources():
    catalog = builtin_catalog()
    for name, (dsp, bram) in SPEC_FIGURES.items():
        device = catalog[name]
        assert (device.dsp, device.bram18k) == (dsp, bram)
        assert device.source and device.luts > 0


def test_pool_parsing_and_errors():
    pool = parse_pool("2xXC7Z020+1xXC7A50T", link_gbps=5)
    assert [d.name for d in pool.devices] == ["XC7Z020", "XC7Z020", "XC7A50T"]
    assert pool.counts == (2, 1) and pool.link_gbps == 5
    assert pool.describe() == "2xXC7Z020 + 1xXC7A50T"
    with pytest.raises(ValueError, match=r"unknown device 'XC9'.*XC7A50T"):
        parse_pool("XC9")
    with pytest.raises(ValueError, match="names no device"):
        parse_pool(" + ")


@pytest.mark.parametrize("text", ["XC7Z020++XC7A50T", "XC7Z020+", "+XC7Z020", "XC7Z020,,XC7A50T"])
def test_an_empty_pool_entry_is_refused_not_skipped(text):
    with pytest.raises(ValueError, match=r"an empty entry \(two '\+' in a row, or one at an end\)"):
        parse_pool(text)


def test_a_pool_too_large_to_tabulate_is_refused_at_once():
    """The optimiser's table has prod(count + 1) states: up to MAX_POOL_STATES is accepted."""
    most = MAX_POOL_STATES - 1
    assert len(parse_pool(f"{most}xXC7Z020").devices) == most
    with pytest.raises(ValueError, match=r"too large.*\(100,001: the product.*at most 10,000"):
        parse_pool("100000xXC7Z020")
    with pytest.raises(ValueError, match=r"too large.*\(19,683: "):
        parse_pool("+".join(f"2x{name}" for name in builtin_catalog()))
    with pytest.raises(ValueError, match=r"too large.*\(10,201: "):  # one kind, given twice
        parse_pool("50xXC7Z020+50xXC7Z020+100xXC7A50T")
    pool = parse_pool("1xXC7Z020+1xXC7A50T+1xXC7Z020")  # repeated kinds keep the text's order
    assert [d.name for d in pool.devices] == ["XC7Z020", "XC7A50T", "XC7Z020"]


def test_catalog_errors_name_device_and_field():
    with pytest.raises(ValueError, match="device X: unknown field"):
        parse_catalog("[X]\ndsp = 1\nbogus = 2\n")
    device = (
        '[X]\nfamily="Zynq-7000"\ndsp=0\nbram18k=1\nluts=1\nffs=1\nport_bits=64\n'
        "clock_mhz=100.0\nstatic_w=0.1\nboard_w=1.0\n"
    )
    with pytest.raises(ValueError, match="device X: dsp: expected a positive integer, got 0"):
        parse_catalog(device, families=builtin_families())
    ok = device.replace("dsp=0", "dsp=1")
    with pytest.raises(
        ValueError, match=r"device X: family: expected a \[families\] power entry.*got 'Zynq-7000'"
    ):
        parse_catalog(ok)
    with pytest.raises(ValueError, match="family F: unknown field"):
        parse_catalog("[families.F]\ndsp_watts = 1\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        parse_catalog("[X\n")


def test_spec_validation():
    with pytest.raises(ValueError, match="fps"):
        Spec(fps=-1)
    with pytest.raises(ValueError, match="max_fpgas"):
        Spec(max_fpgas=0)


def two_layer_workload():
    return Workload(
        (
            Layer(LayerKind.CONV, 3, 16, 8, 8, 3, 1),
            Layer(LayerKind.CONV, 16, 16, 8, 8, 3, 1),
        ),
        (3, 8, 8),
    )


def test_pipeline_metrics_follow_the_formulas():
    workload = two_layer_workload()
    pool = Pool((get_device("XC7Z020"), get_device("XC7Z020")), link_gbps=1.0)
    tiling = Tiling(8, 4, 8, 8, 1, 2, 1)
    design = HardwareDesign(
        (StageDesign("XC7Z020", 0, 0, tiling), StageDesign("XC7Z020", 1, 1, tiling))
    )
    ev = evaluate_design(workload, design, pool)
    stage = [s.seconds for s in ev.stages]
    link = 16 * 8 * 8 * 16 / 1e9  # boundary fmap bits / link bandwidth
    assert ev.link_seconds == pytest.approx((link,))
    assert ev.ii_seconds == pytest.approx(max(*stage, link))
    assert ev.fps == pytest.approx(1 / ev.ii_seconds)
    assert ev.latency_ms == pytest.approx(1e3 * (sum(stage) + link))
    assert ev.pipeline_efficiency == pytest.approx(sum(stage) / (2 * ev.ii_seconds))
    assert ev.gops_per_w == pytest.approx(workload.ops * ev.fps / ev.power_w / 1e9)
    assert ev.feasible


def test_design_errors_are_reasons_not_exceptions():
    workload = two_layer_workload()
    pool = Pool((get_device("XC7A50T"),))
    tiling = Tiling(16, 16, 8, 8, 1, 2, 1)  # 256 DSP on a 120-DSP device
    ev = evaluate_design(workload, HardwareDesign((StageDesign("XC7A50T", 0, 1, tiling),)), pool)
    assert not ev.feasible and "DSP 256 > 120" in ev.reason
    double = HardwareDesign(
        (StageDesign("XC7A50T", 0, 0, tiling), StageDesign("XC7A50T", 1, 1, tiling))
    )
    assert "more XC7A50T than the pool" in evaluate_design(workload, double, pool).reason
    gap = HardwareDesign((StageDesign("XC7A50T", 1, 1, tiling),))
    assert "consecutively" in evaluate_design(workload, gap, pool).reason


def test_spec_misses_are_reported():
    workload = two_layer_workload()
    pool = Pool((get_device("XC7Z020"),))
    design = HardwareDesign((StageDesign("XC7Z020", 0, 1, Tiling(8, 4, 8, 8, 1, 2, 1)),))
    fps = evaluate_design(workload, design, pool).fps
    assert evaluate_design(workload, design, pool, Spec(fps=fps / 2)).feasible
    assert "< spec" in evaluate_design(workload, design, pool, Spec(fps=fps * 2)).reason
    assert "latency" in evaluate_design(workload, design, pool, Spec(latency_ms=1e-9)).reason


def test_design_json_round_trip():
    design = HardwareDesign(
        (StageDesign("XC7Z020", 0, 1, Tiling(8, 4, 8, 8, 1, 2, 1)),), Precision.FP32
    )
    assert HardwareDesign.from_json(design.to_json()) == design


def test_hardware_and_fast_packages_never_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import coexplore.workload, coexplore.hardware.devices, coexplore.hardware.accelerator\n"
        "import coexplore.hardware.pipeline, coexplore.fast.optimal, coexplore.fast.brute\n"
        "import coexplore.spaces, coexplore.onnx_import\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_docs_count_the_built_in_devices_right():
    """docs/device-catalogs.md says how many devices are built in (it said seven of nine)."""
    import re
    from pathlib import Path

    words = {6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
    text = (Path(__file__).resolve().parents[2] / "docs" / "device-catalogs.md").read_text()
    said = re.search(r"holds (\w+)\s+AMD/Xilinx devices", text)
    assert said is not None and said.group(1) == words[len(builtin_catalog())]
