"""The power model's measured error band (coexplore.hardware.calibration): computed from the
measured designs, the same as bench/calibration.py's ratios, and stated in docs/hardware.md."""

import dataclasses
from pathlib import Path

import pytest

from coexplore.hardware.calibration import (
    MEASURED,
    ErrorBand,
    error_band,
    power_error_band,
    predicted_board_w,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hardware.md"


def test_the_band_spans_the_bench_ratios(load_bench):
    bench = load_bench("calibration")
    assert bench.MEASURED is MEASURED  # one table, not a copy
    errors = [100 * (bench.predict(row).board_w / row.board_w - 1) for row in MEASURED]
    band = power_error_band()
    assert band == ErrorBand(min(errors), max(errors), len(MEASURED))
    assert band.low_pct < 0 < band.high_pct  # the model is under on some designs, over on others


def test_the_band_follows_the_measured_figures():
    """Measured exactly as predicted: no error; measured 20 % below and 50 % above the model:
    the band is +25 % / -33.3 % (model over / under what was measured)."""
    exact = [dataclasses.replace(row, board_w=predicted_board_w(row)) for row in MEASURED]
    assert error_band(exact) == ErrorBand(pytest.approx(0), pytest.approx(0), len(MEASURED))
    first, second = MEASURED[:2]
    low = dataclasses.replace(first, board_w=predicted_board_w(first) / 1.25)
    high = dataclasses.replace(second, board_w=predicted_board_w(second) * 1.5)
    band = error_band([low, high])
    assert band.low_pct == pytest.approx(-100 / 3) and band.high_pct == pytest.approx(25)


def test_the_measured_range_inverts_the_band():
    band = ErrorBand(-20.0, 25.0, 2)
    low, high = band.measured_range_w(10.0)
    assert (low, high) == (pytest.approx(8.0), pytest.approx(12.5))
    assert band.text() == "model -20 %/+25 % vs 2 measured designs"


def test_docs_state_the_band():
    assert power_error_band().text() in DOCS.read_text(encoding="utf-8")
