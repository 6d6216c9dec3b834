"""bench/nb201_proxy.py: synflow on NAS-Bench-201 cells, and the script end to end on a table the
test writes (random accuracies: the figures mean nothing, the lines' shape does)."""

import csv
import math
import re
import sys

import numpy as np
import pytest

from coexplore.spaces.nb201 import Nb201Arch, Nb201Space
from coexplore.tabular.accuracy import ARCH_COLUMN, COLUMNS


@pytest.fixture(scope="module")
def proxy(load_bench):
    return load_bench("nb201_proxy")


def test_a_cell_cut_from_its_output_scores_far_below_a_connected_one(proxy):
    space = Nb201Space(init_channels=4, cells_per_stage=1)
    ops = ["nor_conv_3x3"] * 6
    connected = proxy.log_synflow(space, Nb201Arch(tuple(ops)))
    cut = proxy.log_synflow(space, Nb201Arch(tuple(ops[:3] + ["none"] * 3)))
    assert math.isfinite(connected) and math.isfinite(cut)
    # Cut: only the head's bias sees the (constant) output; every conv weight's gradient is 0.
    assert connected > cut + 5


def test_the_score_grows_with_the_convolutions_on_the_one_path(proxy):
    space = Nb201Space(init_channels=4, cells_per_stage=1)
    skip = ("none", "none", "none", "skip_connect", "none", "none")
    conv = ("none", "none", "none", "nor_conv_3x3", "none", "none")
    # The cells' conv weights are positive and multiply the signal: more parameters on the path.
    assert proxy.log_synflow(space, Nb201Arch(conv)) > proxy.log_synflow(space, Nb201Arch(skip))


def test_the_script_prints_a_line_per_column_and_training_count(
    proxy, tmp_path, monkeypatch, capsys
):
    table = tmp_path / "nats.csv"
    rng = np.random.default_rng(3)
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([ARCH_COLUMN, *COLUMNS.values()])
        for index in range(15_625):
            row = [Nb201Arch.from_index(index).to_string()]
            writer.writerow(row + [f"{v:.3f}" for v in rng.uniform(10, 95, len(COLUMNS))])
    argv = ["nb201_proxy.py", "--csv", str(table), "--cells", "24", "--trainings", "8,12"]
    monkeypatch.setattr(sys, "argv", [*argv, "--repeats", "1"])
    proxy.main()
    lines = capsys.readouterr().out.splitlines()
    number = r"-?\d\.\d{3}"
    assert re.fullmatch(r"synflow: 24 cells in \d+ s \(\d+ ms each\)", lines[0])
    for column in COLUMNS:
        ranks = [line for line in lines if line.startswith(f"synflow spearman {column}: ")]
        assert len(ranks) == 1
        assert re.fullmatch(
            rf"synflow spearman {column}: all {number} top-20% {number} "
            rf"\(log MACs: all {number} top-20% {number}\)",
            ranks[0],
        )
        for k in (8, 12):
            fits = [
                line for line in lines if line.startswith(f"surrogate spearman {column} after {k}:")
            ]
            assert len(fits) == 1
            assert re.fullmatch(
                rf"surrogate spearman {column} after {k}: without {number} \(top-20% {number}\) "
                rf"with {number} \(top-20% {number}\)",
                fits[0],
            )
