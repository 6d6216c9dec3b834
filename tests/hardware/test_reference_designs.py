"""Reference designs: with fill off the model gives the first version's numbers exactly; with
fill on, the measured AlexNet accelerator (Zhang et al., FPGA'15) is predicted closely."""

import json
from pathlib import Path

import pytest

from coexplore.archfile import parse_arch
from coexplore.fast.grid import TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.accelerator import Tiling, layer_cycles
from coexplore.hardware.devices import Pool, Precision, Resources, Spec, get_device, parse_pool
from coexplore.hardware.pipeline import HardwareDesign, StageDesign, evaluate_design
from coexplore.workload import Layer, LayerKind, Workload


def conv(n, m, rc, k, s=1):
    return Layer(LayerKind.CONV, n, m, rc, rc, k, s)


# AlexNet conv layers (grouped layers: N per group), as in Zhang et al. FPGA'15
ALEXNET = (
    conv(3, 96, 55, 11, 4), conv(48, 256, 27, 5), conv(256, 384, 13, 3),
    conv(192, 384, 13, 3), conv(192, 256, 13, 3),
)  # fmt: skip


def test_alexnet_steady_state_cycles_are_the_papers_compute_bound():
    # <Tm, Tn> = <64, 7> and whole-map tiles: every layer is compute bound, so the cycles are
    # ceil(M/Tm) ceil(N/Tn) R C K^2, the paper's per-layer figures
    t = Tiling(64, 7, 55, 55, 6, 6, 4)
    for layer in ALEXNET:
        paper = -(-layer.out_channels // 64) * -(-layer.in_channels // 7)
        paper *= layer.out_rows * layer.out_cols * layer.kernel**2
        assert layer_cycles(layer, t, fill=False) == paper


# Cycles the first version of the model (commit 6c4e5ac) gave these tilings.
FIRST_VERSION_ALEXNET = {
    Tiling(64, 7, 13, 13, 4, 8, 4): [1022450, 1064700, 337662, 255528, 170352],
    Tiling(64, 7, 8, 8, 5, 6, 5): [885430, 836416, 596736, 451584, 301056],
    Tiling(64, 7, 55, 55, 6, 6, 4): [732050, 510300, 337662, 255528, 170352],
}


@pytest.mark.parametrize("tiling", list(FIRST_VERSION_ALEXNET))
def test_alexnet_cycles_with_fill_off_are_the_first_versions(tiling):
    cycles = [int(layer_cycles(layer, tiling, fill=False)) for layer in ALEXNET]
    assert cycles == FIRST_VERSION_ALEXNET[tiling]
    with_fill = [int(layer_cycles(layer, tiling)) for layer in ALEXNET]
    assert all(f > c for f, c in zip(with_fill, cycles, strict=True))


def test_zhang_fpga15_latency_and_power_are_close_to_the_measurements():
    # VC707, fp32, 100 MHz, <64, 7>: 21.61 ms for the conv layers, 18.61 W on the board
    vc707 = get_device("XC7VX485T")
    work = Workload(ALEXNET, (3, 227, 227))
    space = TilingSpace(tm_values=(64,), tn_values=(7,))
    best = OptimalExplorer(Pool((vc707,)), Spec(), Precision.FP32, space).explore(work)
    assert best.evaluation is not None
    assert best.evaluation.latency_ms == pytest.approx(21.61, rel=0.10)
    steady = OptimalExplorer(Pool((vc707,), fill=False), Spec(), Precision.FP32, space)
    assert steady.explore(work).evaluation.latency_ms < best.evaluation.latency_ms
    used = Resources(dsp=2240, bram18k=1024, luts=186251, port_words=0, ffs=205704)
    assert vc707.power_w(used) == pytest.approx(18.61, rel=0.25)


EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def chain(layers):
    arch = [{"kernel": k, "filters": f, "stride": s} for k, f, s in layers]
    return {"space": "chain", "layers": arch}


# Three CIFAR-10 chains of the released depths (6, 10, 14 layers) on 2xXC7Z020 + 1xXC7A50T:
# the first version's best FPS and its designs (commit 6c4e5ac).
CIFAR = {
    "chain6": (
        json.loads((EXAMPLES / "chain6.json").read_text()),
        602.8163580246913,
        [("XC7Z020", 0, 1, Tiling(24, 8, 16, 16, 1, 1, 2), 165888),
         ("XC7Z020", 2, 4, Tiling(64, 2, 8, 8, 1, 2, 1), 158352),
         ("XC7A50T", 5, 6, Tiling(2, 8, 4, 4, 2, 1, 1), 151552)],
    ),
    "chain10": (
        chain([(3, 36, 1), (5, 48, 1), (3, 64, 2), (1, 48, 1), (3, 64, 1), (7, 36, 1),
               (3, 64, 2), (5, 48, 1), (3, 64, 1), (1, 24, 1)]),
        320.65259215555494,
        [("XC7Z020", 0, 1, Tiling(16, 12, 16, 16, 1, 1, 2), 277056),
         ("XC7A50T", 2, 4, Tiling(64, 1, 6, 6, 1, 2, 1), 300672),
         ("XC7Z020", 5, 10, Tiling(24, 8, 16, 16, 1, 2, 1), 311864)],
    ),
    "chain14": (
        chain([(3, 24, 1), (3, 36, 1), (5, 48, 1), (1, 64, 1), (3, 48, 2), (7, 36, 1),
               (3, 64, 1), (5, 48, 1), (3, 64, 2), (1, 24, 1), (3, 36, 1), (5, 64, 1),
               (3, 48, 1), (1, 64, 1)]),
        264.95400398490824,
        [("XC7Z020", 0, 2, Tiling(16, 12, 16, 16, 2, 1, 1), 318464),
         ("XC7Z020", 3, 6, Tiling(24, 8, 16, 16, 2, 1, 1), 328512),
         ("XC7A50T", 7, 14, Tiling(24, 4, 8, 8, 1, 2, 1), 377424)],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CIFAR))
def test_cifar_designs_with_fill_off_are_the_first_versions(name):
    data, fps, stages = CIFAR[name]
    work = parse_arch({**data, "input_shape": [3, 32, 32], "num_classes": 10}).workload
    steady = parse_pool("2xXC7Z020+1xXC7A50T", fill=False)
    design = HardwareDesign(tuple(StageDesign(*s[:4]) for s in stages))
    old = evaluate_design(work, design, steady)
    assert [s.cycles for s in old.stages] == [s[4] for s in stages]
    assert old.fps == pytest.approx(fps, rel=1e-12)
    # the optimiser's best FPS is unchanged too (new memory rules and power model included)
    assert OptimalExplorer(steady).explore(work).evaluation.fps == pytest.approx(fps, rel=1e-12)
    # fill costs each design a few per cent
    filled = parse_pool("2xXC7Z020+1xXC7A50T")
    new = OptimalExplorer(filled).explore(work).evaluation
    assert 0.9 * fps < new.fps < fps
