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

Provenance: each row says which of its figures were checked, against what, and which were not
(`unverified`, printed under the table). The stored sources reachable from this project hold
the papers' abstracts and secondary transcriptions of their tables, not the papers themselves;
a figure is "checked" when one of those states it, and unverified otherwise.

Usage: .venv/bin/python bench/calibration.py
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coexplore.fast.grid import TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Pool, Precision, Resources, get_device, with_clock
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
    unverified: tuple[str, ...] = ()  # fields no source we could reach states
    note: str = ""  # why the row's power stays out of +-25 %, when it does (docs/hardware.md)


def _ms(gops: float, network: Workload) -> float:
    return network.ops / (gops * 1e9) * 1e3


MEASURED = (
    # Zhang et al. FPGA'15, AlexNet on the VC707 (XC7VX485T), 32-bit float, 100 MHz, <Tm, Tn> =
    # <64, 7>. Checked: 61.62 GFLOPS at 100 MHz on the VC707 (the paper's abstract); DSP 2,240
    # (80 %), BRAM 1,024 (50 % of 2,060: BRAM18 units), LUT 186,251 (61.3 %), FF 205,704
    # (33.87 %) and 18.61 W (a reading note transcribing the paper's resource-utilisation and
    # CPU/energy comparison tables). 21.61 ms is 1.3316 GFLOP / 61.62 GFLOPS exactly. Not
    # checked: the table numbers (our notes disagree: Table 4 or 6 for the resources) and
    # whether the 18.61 W was metered on the board's supply or on the FPGA rails; <64, 7> is
    # checked by its cycle counts (tests/hardware/test_reference_designs.py), not by a source.
    Measured(
        "Zhang et al., Optimizing FPGA-based accelerator design for deep convolutional neural "
        "networks, FPGA'15",
        "XC7VX485T", "VC707", ALEXNET, Precision.FP32, 100.0,
        2240, 1024, 186251, 205704, 21.61, 18.61, pe=(64, 7),
        unverified=("pe",),
    ),
    # Qiu et al. FPGA'16, VGG16-SVD on the ZC706 (XC7Z045), 16-bit fixed point, 150 MHz.
    # Checked: 187.8 GOP/s on the conv layers, 137.0 GOP/s for the whole network, 4.45 fps at
    # 150 MHz (the authors' project page and a reading note); DSP 780, BRAM 486 (BRAM36:
    # 89.2 % of 545), LUT 182,616 (83.5 %), FF 127,653 (29.2 %) (the reading note, which swaps
    # the DSP and BRAM percentages). Not checked: the 9.63 W board power (entered from the
    # paper's comparison table as we remember it; 137.0 / 9.63 = 14.2 GOP/s/W).
    Measured(
        "Qiu et al., Going deeper with embedded FPGA platform for convolutional neural network, "
        "FPGA'16",
        "XC7Z045", "ZC706", VGG16, Precision.FIXED16, 150.0,
        780, 2 * 486, 182616, 127653, _ms(187.80, VGG16), 9.63,
        unverified=("board_w",),
    ),
    # Zhang et al. ICCAD'16 (Caffeine), VGG16 on a KU060 PCIe board. Checked: "a peak
    # performance of 365 GOPS on Xilinx KU060" (the ICCAD'16 abstract; the TCAD'18 journal
    # version reports 1,460 GOPS on the KU060, a later design). Not checked, entered from
    # memory of the paper's comparison table: that 365 GOPS is the VGG16 conv layers' average
    # (the abstract says "peak": if it is the best layer, the measured latency is longer and
    # our ratio lower), 16-bit fixed point, 200 MHz, DSP 1,058, BRAM18 782, LUT 150,011,
    # FF 168,829, 25 W, and the board (an Alpha Data ADM-PCIE-KU3 class card, as we believe).
    Measured(
        "Zhang et al., Caffeine: towards uniformed representation and acceleration for deep "
        "convolutional neural networks, ICCAD'16",
        "XCKU060", "KU060 PCIe board", VGG16, Precision.FIXED16, 200.0,
        1058, 782, 150011, 168829, _ms(365.0, VGG16), 25.0,
        unverified=("latency_ms", "precision", "clock_mhz", "dsp", "bram18k", "luts", "ffs",
                    "board_w"),
        note="the board term of a PCIe card is our least-known estimate, static power at a "
        "passively cooled die's junction temperature is not modelled, and the 25 W itself is "
        "unverified (docs/hardware.md, Calibration)",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    latency_ms: float
    board_w: float
    pl_w: float
    static_w: float  # of pl_w
    regulator_loss_w: float  # board_w = pl_w + regulator_loss_w + rest_of_board_w
    rest_of_board_w: float
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
    board, pl = float(device.power_w(used)), float(device.pl_power_w(used))
    return Prediction(
        result.evaluation.latency_ms,
        board,
        pl,
        device.static_w,
        board - pl - device.board_w,
        device.board_w,
        f"<{t.tm},{t.tn},{t.tr},{t.tc}> <{t.ip},{t.wp},{t.op}>",
        f"{stage.dsp}/{stage.bram18k}",
    )


def _short(row: Measured) -> str:
    return row.publication.split(",")[0] + ", " + row.publication.rsplit(", ", 1)[1]


def _measured(row: Measured, field: str, width: int) -> str:
    """A published figure, marked '?' when no source we could reach states it."""
    mark = "?" if field in row.unverified else " "
    return f"{getattr(row, field):>{width - 1}.2f}{mark}"


def main() -> None:
    worst_latency = worst_power = 0.0
    out: list[str] = []
    print(f"{'publication':<26} {'device':<10} {'prec':<7} {'MHz':>4} "
          f"{'ms meas':>8} {'ms model':>8} {'ratio':>6} {'W meas':>7} {'W model':>7} "
          f"{'ratio':>6}  W model = PL (static + dynamic) + regulators + rest of board; "
          f"model tiling, DSP/BRAM18 (published)")  # fmt: skip
    for row in MEASURED:
        p = predict(row)
        lat, pow_ = p.latency_ms / row.latency_ms, p.board_w / row.board_w
        worst_latency = max(worst_latency, abs(lat - 1))
        worst_power = max(worst_power, abs(pow_ - 1))
        if abs(pow_ - 1) > 0.25:
            out.append(f"  {_short(row)}: {pow_:.3f}: {row.note or 'no explanation recorded'}")
        split = (
            f"{p.pl_w:.2f} ({p.static_w:.2f} + {p.pl_w - p.static_w:.2f}) "
            f"+ {p.regulator_loss_w:.2f} + {p.rest_of_board_w:.2f}"
        )
        print(f"{_short(row):<26} {row.device:<10} {row.precision.value:<7} "
              f"{row.clock_mhz:>4.0f} {_measured(row, 'latency_ms', 8)} {p.latency_ms:>8.2f} "
              f"{lat:>6.3f} {_measured(row, 'board_w', 7)} {p.board_w:>7.2f} {pow_:>6.3f}  "
              f"{split}; {p.tiling}, {p.dsp_bram} ({row.dsp}/{row.bram18k})")  # fmt: skip
    print("unverified published figures ('?' above; see each row's comment):")
    for row in MEASURED:
        print(f"  {_short(row)}: {', '.join(row.unverified) or 'none'}")
    print("board power out of +-25 %:" + ("" if out else " none"))
    for line in out:
        print(line)
    print(
        f"calibration: latency max error {100 * worst_latency:.1f} %, "
        f"power max error {100 * worst_power:.1f} %"
    )


if __name__ == "__main__":
    main()
