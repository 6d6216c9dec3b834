"""Published, measured FPGA CNN accelerators of the tiled-engine kind, and how far the power
model is from what was measured on them.

`MEASURED` holds one row per publication: the network, device, precision and clock it ran, the
resources it used, and its measured latency and board power. `bench/calibration.py` predicts
each row's latency and power with the model (docs/hardware.md, Calibration); here the power
model alone is applied to each row's published resources, which gives the measured error band
that every power figure `coexplore estimate` prints carries (`power_error_band`).

Conventions: a grouped convolution (AlexNet's conv2, conv4, conv5) is one layer whose N is the
input channels per group (the engine runs the groups one after another: same cycles, same
MACs). Pooling is fused into the conv engines of these designs and left out. Throughput
figures (GOP/s) are turned into latency with the conv layers' operations (2 x MACs) as the
papers count them.

Provenance: each row says which of its figures were checked, against what, and which were not
(`unverified`). The stored sources reachable from this project hold the papers' abstracts and
secondary transcriptions of their tables, not the papers themselves; a figure is "checked" when
one of those states it, and unverified otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from coexplore.hardware.accelerator import Resources
from coexplore.hardware.devices import Precision, get_device, with_clock
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


def predicted_board_w(row: Measured) -> float:
    """The power model on the row's published DSP, BRAM, LUT and FF counts, on its device at
    its clock (the built-in catalog's device)."""
    device = with_clock(get_device(row.device), row.clock_mhz)
    return float(device.power_w(Resources(row.dsp, row.bram18k, row.luts, 0, ffs=row.ffs)))


@dataclass(frozen=True)
class ErrorBand:
    """How far the power model was from measured board power: (model - measured) / measured,
    lowest and highest over the measured designs, in per cent."""

    low_pct: float
    high_pct: float
    designs: int

    def text(self) -> str:
        """E.g. 'model -31 %/+17 % vs 3 measured designs'."""
        return (
            f"model {self.low_pct:+.0f} %/{self.high_pct:+.0f} % vs {self.designs} measured designs"
        )

    def measured_range_w(self, model_w: float) -> tuple[float, float]:
        """The board power a design the model puts at `model_w` would measure, if the model is
        off by as much as on the measured designs: (low, high) in W."""
        return model_w / (1 + self.high_pct / 100), model_w / (1 + self.low_pct / 100)

    def to_json(self) -> dict[str, float | int | str]:
        return {
            "low_pct": round(self.low_pct, 1),
            "high_pct": round(self.high_pct, 1),
            "designs": self.designs,
            "meaning": "(model - measured) / measured board power of the power model on "
            "published, measured accelerators (coexplore.hardware.calibration.MEASURED)",
        }


def error_band(rows: Sequence[Measured]) -> ErrorBand:
    """The power model's lowest and highest error over measured designs."""
    errors = [100 * (predicted_board_w(row) / row.board_w - 1) for row in rows]
    return ErrorBand(min(errors), max(errors), len(errors))


@cache
def power_error_band() -> ErrorBand:
    """The band over `MEASURED` (computed, not typed in: a change of the model moves it)."""
    return error_band(MEASURED)
