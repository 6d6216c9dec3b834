"""The hardware model against published, measured FPGA CNN accelerators of the tiled-engine kind.

For each row of MEASURED (one publication each) the model gets the same network, device,
precision and clock, and the published DSP count as its budget; it predicts
- latency: the exact optimiser's best design for the network's conv layers (the published
  <Tm, Tn> when the paper gives it), fill and drain counted;
- board power: the power model applied to the published DSP, BRAM, LUT and FF counts.
It prints per row the predicted/measured ratios and a last line
`calibration: latency max error X %, power max error Y %`.

Conventions: a grouped convolution (AlexNet's conv2, conv4, conv5) is one layer whose N is the
input channels per group (the engine runs the groups one after another: same cycles, same
MACs). Pooling is fused into the conv engines of these designs and left out. Throughput
figures (GOP/s) are turned into latency with the conv layers' operations (2 x MACs) as the
papers count them.

Usage: .venv/bin/python bench/calibration.py
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coexplore.fast.grid import TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.accelerator import Resources
from coexplore.hardware.devices import Pool, Precision, get_device, with_clock
from coexplore.workload import Layer, LayerKind, Workload


def _conv(n: int, m: int, rc: int, k: int, s: int, name: str) -> Layer:
    return Layer(LayerKind.CONV, n, m, rc, rc, k, s, name=name)


# AlexNet (Krizhevsky et al. 2012) conv layers, 227 x 227 input, two groups in conv2/4/5:
# 665.8 M MACs = 1.33 GFLOP, the figure Zhang et al. divide by their 21.61 ms.
ALEXNET = Workload(
    (
        _conv(3, 96, 55, 11, 4, "conv1"),
        _conv(48, 256, 27, 5, 1, "conv2"),
        _conv(256, 384, 13, 3, 1, "conv3"),
        _conv(192, 384, 13, 3, 1, "conv4"),
        _conv(192, 256, 13, 3, 1, "conv5"),
    ),
    (3, 227, 227),
    name="alexnet-conv",
)

# VGG-16 (Simonyan and Zisserman 2015) conv layers, 224 x 224 input, 3 x 3, stride 1, 'same':
# 15.35 G MACs = 30.7 GOP.
_VGG_STAGES = ((224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3), (14, 512, 3))
VGG16 = Workload(
    tuple(
        _conv(n, m, rc, 3, 1, f"conv{stage + 1}_{i + 1}")
        for stage, (rc, m, count) in enumerate(_VGG_STAGES)
        for i, n in enumerate([_VGG_STAGES[stage - 1][1] if stage else 3] + [m] * (count - 1))
    ),
    (3, 224, 224),
    name="vgg16-conv",
)


@dataclass(frozen=True)
class Measured:
    """One published accelerator: what it ran, on what, with what, and what was measured."""

    publication: str
    device: str  # our catalog's name for the FPGA
    board: str
    network: Workload
    precision: Precision
    clock_mhz: float
    dsp: int
    bram18k: int
    luts: int
    ffs: int
    latency_ms: float  # conv layers, one image (from GOP/s where the paper gives throughput)
    board_w: float
    pe: tuple[int, int] | None = None  # <Tm, Tn> when the paper gives it


def _ms(gops: float, network: Workload) -> float:
    return network.ops / (gops * 1e9) * 1e3


MEASURED = (
    # Table 4 and Section 6: <Tm, Tn> = <64, 7>, 32-bit float, 100 MHz; 21.61 ms for the five
    # conv layers (61.62 GFLOPS), 18.61 W measured on the board; DSP 2,240, BRAM18 1,024,
    # LUT 186,251, FF 205,704.
    Measured(
        "Zhang et al., Optimizing FPGA-based accelerator design for deep convolutional neural "
        "networks, FPGA'15",
        "XC7VX485T", "VC707", ALEXNET, Precision.FP32, 100.0,
        2240, 1024, 186251, 205704, 21.61, 18.61, pe=(64, 7),
    ),
    # VGG16-SVD on the ZC706, 16-bit fixed point, 150 MHz: 187.80 GOP/s on the conv layers
    # (137.0 GOP/s for the whole network, 4.45 fps), 9.63 W; DSP 780, BRAM36 486, LUT 182,616,
    # FF 127,653.
    Measured(
        "Qiu et al., Going deeper with embedded FPGA platform for convolutional neural network, "
        "FPGA'16",
        "XC7Z045", "ZC706", VGG16, Precision.FIXED16, 150.0,
        780, 2 * 486, 182616, 127653, _ms(187.80, VGG16), 9.63,
    ),
    # Caffeine on the KU060 (a PCIe board), VGG16, 16-bit fixed point, 200 MHz: 365 GOPS on the
    # conv layers, 25 W; DSP 1,058, BRAM18 782, LUT 150,011, FF 168,829 (the paper's comparison
    # table, as we read it).
    Measured(
        "Zhang et al., Caffeine: towards uniformed representation and acceleration for deep "
        "convolutional neural networks, ICCAD'16",
        "XCKU060", "KU060 PCIe board", VGG16, Precision.FIXED16, 200.0,
        1058, 782, 150011, 168829, _ms(365.0, VGG16), 25.0,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    latency_ms: float
    board_w: float
    pl_w: float
    tiling: str
    dsp_bram: str  # what the model's own design uses


def predict(row: Measured) -> Prediction:
    """The model on the row's device, clock and precision, the published DSP count as budget.

    Block RAM is the device's: the template sizes its own buffers (double-buffered Tm x Tn
    weight banks, for one), which the published designs organise differently.
    """
    device = dataclasses.replace(with_clock(get_device(row.device), row.clock_mhz), dsp=row.dsp)
    space = TilingSpace((row.pe[0],), (row.pe[1],)) if row.pe else TilingSpace()
    result = OptimalExplorer(Pool((device,), fill=True), None, row.precision, space).explore(
        row.network
    )
    assert result.evaluation is not None and result.design is not None, result.reason
    t, stage = result.design.stages[0].tiling, result.evaluation.stages[0]
    used = Resources(row.dsp, row.bram18k, row.luts, 0, ffs=row.ffs)
    return Prediction(
        result.evaluation.latency_ms,
        float(device.power_w(used)),
        float(device.pl_power_w(used)),
        f"<{t.tm},{t.tn},{t.tr},{t.tc}> <{t.ip},{t.wp},{t.op}>",
        f"{stage.dsp}/{stage.bram18k}",
    )


def main() -> None:
    worst_latency = worst_power = 0.0
    print(f"{'publication':<26} {'device':<10} {'prec':<7} {'MHz':>4} "
          f"{'ms meas':>8} {'ms model':>8} {'ratio':>6} {'W meas':>7} {'W model':>7} "
          f"{'(PL W)':>6} {'ratio':>6}  model tiling, DSP/BRAM18 (published)")  # fmt: skip
    for row in MEASURED:
        p = predict(row)
        lat, pow_ = p.latency_ms / row.latency_ms, p.board_w / row.board_w
        worst_latency = max(worst_latency, abs(lat - 1))
        worst_power = max(worst_power, abs(pow_ - 1))
        short = row.publication.split(",")[0] + ", " + row.publication.rsplit(", ", 1)[1]
        print(f"{short:<26} {row.device:<10} {row.precision.value:<7} {row.clock_mhz:>4.0f} "
              f"{row.latency_ms:>8.2f} {p.latency_ms:>8.2f} {lat:>6.3f} {row.board_w:>7.2f} "
              f"{p.board_w:>7.2f} {p.pl_w:>6.2f} {pow_:>6.3f}  {p.tiling}, {p.dsp_bram} "
              f"({row.dsp}/{row.bram18k})")  # fmt: skip
    print(
        f"calibration: latency max error {100 * worst_latency:.1f} %, "
        f"power max error {100 * worst_power:.1f} %"
    )


if __name__ == "__main__":
    main()
