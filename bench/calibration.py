"""The hardware model against published, measured FPGA CNN accelerators of the tiled-engine kind.

For each row of MEASURED (one publication each) the model gets the same network, device,
precision and clock, and the published DSP count as its budget; it predicts
- latency: the exact optimiser's best design for the network's conv layers (the published
  <Tm, Tn> when the paper gives it), fill and drain counted;
- board power: the power model applied to the published DSP, BRAM, LUT and FF counts.
It prints per row the predicted/measured ratios and a last line
`calibration: latency max error X %, power max error Y %`.

The rows (`MEASURED`, with their conventions and provenance) live in
`coexplore.hardware.calibration`, where the power model's error band on them is computed for
`coexplore estimate`; this script adds the latency and the power split.

Usage: .venv/bin/python bench/calibration.py
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coexplore.fast.grid import TilingSpace
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.calibration import MEASURED, Measured, predicted_board_w
from coexplore.hardware.devices import Pool, Resources, get_device, with_clock

__all__ = ["MEASURED", "Measured", "Prediction", "main", "predict"]


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
    board, pl = predicted_board_w(row), float(device.pl_power_w(used))
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
