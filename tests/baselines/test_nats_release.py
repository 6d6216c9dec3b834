"""`coexplore nb201-table`: the accuracy CSV from NATS-Bench's release, read with nats_bench.

The test writes the smallest valid release in both of its forms (the archive folder read in
fast mode, and the single file) with nats_bench's own classes: three cells, two seeds each
on CIFAR-10, one on CIFAR-100 and ImageNet16-120, only the 200-epoch results.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from nats_bench.api_utils import ArchResults, ResultsCount, pickle_save
from typer.testing import CliRunner

from coexplore.cli import app
from coexplore.errors import InputError
from coexplore.spaces.nb201 import Nb201Arch
from coexplore.tabular.accuracy import load_accuracy_table
from coexplore.tabular.nats import HEADER, make_accuracy_csv

runner = CliRunner()
EPOCHS = 200
CELLS = (
    "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",  # these two compute the same
    "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",  # (nothing: cut off)
    "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
)
# cell -> dataset -> test accuracy (%) of each seed
ACCURACY = {
    0: {"cifar10": [10.0, 10.0], "cifar100": [1.0], "ImageNet16-120": [0.8]},
    1: {"cifar10": [10.0, 12.0], "cifar100": [1.2], "ImageNet16-120": [0.9]},
    2: {"cifar10": [90.0, 93.0], "cifar100": [70.5], "ImageNet16-120": [45.25]},
}


def arch_results(index: int) -> dict:
    """The 200-epoch results of one cell, as NATS-Bench stores them (ArchResults' state)."""
    results = ArchResults(index, CELLS[index])
    for dataset, accuracies in ACCURACY[index].items():
        split = "ori-test" if dataset == "cifar10" else "x-test"
        seeds = [777, 888][: len(accuracies)]
        for seed, accuracy in zip(seeds, accuracies, strict=True):
            run = ResultsCount(dataset, None, {EPOCHS - 1: 99.0}, {EPOCHS - 1: 0.1}, 0.1, 10.0,
                               {"arch_str": CELLS[index]}, seed, EPOCHS, 0.001)  # fmt: skip
            each = {f"{split}@{epoch}": accuracy for epoch in range(EPOCHS)}
            run.update_eval(each, dict.fromkeys(each, 0.5), dict.fromkeys(each, 1.0))
            results.all_results[(dataset, seed)] = run
        results.dataset_seed[dataset] = seeds
    return {"200": results.state_dict()}


def archive_folder(root: Path) -> Path:
    """NATS-tss-v1_0-3ffb9-simple/: meta.pickle.pbz2 and 000000.pickle.pbz2, ... (fast mode)."""
    folder = root / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    pickle_save({"meta_archs": list(CELLS)}, str(folder / "meta.pickle"))
    for index in range(len(CELLS)):
        pickle_save(arch_results(index), str(folder / f"{index:06d}.pickle"))
    return folder


def archive_file(root: Path) -> Path:
    """NATS-tss-v1_0-3ffb9.pickle.pbz2: everything in one file."""
    data = {
        "meta_archs": list(CELLS),
        "arch2infos": {index: arch_results(index) for index in range(len(CELLS))},
        "evaluated_indexes": list(range(len(CELLS))),
    }
    pickle_save(data, str(root / "NATS-tss-v1_0-3ffb9.pickle"))
    return root / "NATS-tss-v1_0-3ffb9.pickle.pbz2"


@pytest.mark.parametrize("form", [archive_folder, archive_file])
def test_the_table_is_made_from_either_form_of_the_release(tmp_path, form):
    release, out = form(tmp_path), tmp_path / "table.csv"
    result = runner.invoke(app, ["nb201-table", str(release), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote 3 rows to {out}" in result.stdout
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == HEADER and len(rows) == 4
    order = np.argsort([Nb201Arch.from_string(cell).index for cell in CELLS])
    for dataset, name in [("cifar10", "cifar10"), ("cifar100", "cifar100"),
                          ("imagenet16", "ImageNet16-120")]:  # fmt: skip
        table = load_accuracy_table(out, dataset)
        means = [np.mean(ACCURACY[int(i)][name]) / 100 for i in order]  # seeds averaged
        assert table.accuracy == pytest.approx(means)
        assert list(table.indices) == sorted(Nb201Arch.from_string(c).index for c in CELLS)
    computation = dict(zip(order, load_accuracy_table(out).computation, strict=True))
    assert computation[0] == computation[1] != computation[2]  # the two cut-off cells


def test_an_existing_table_is_kept_unless_forced(tmp_path):
    release, out = archive_folder(tmp_path), tmp_path / "table.csv"
    out.write_text("mine\n")
    kept = runner.invoke(app, ["nb201-table", str(release), "--out", str(out)])
    assert kept.exit_code == 2 and "--force" in kept.stderr and out.read_text() == "mine\n"
    forced = runner.invoke(app, ["nb201-table", str(release), "--out", str(out), "--force"])
    assert forced.exit_code == 0 and out.read_text().startswith(",".join(HEADER))


@pytest.mark.parametrize("what", ["missing", "empty folder", "a JSON file", "a damaged cell"])
def test_what_is_not_a_release_is_one_line(tmp_path, what):
    release = tmp_path / "release"
    if what == "empty folder":
        release.mkdir()
    elif what == "a JSON file":
        release.write_text(json.dumps({"meta_archs": []}))
    elif what == "a damaged cell":
        release = archive_folder(tmp_path)
        (release / "000001.pickle.pbz2").write_bytes(b"BZh91AY&SY not bzip2")
    out = tmp_path / "table.csv"
    result = runner.invoke(app, ["nb201-table", str(release), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {release}"), result.stderr
    assert not out.exists() and not (tmp_path / "table.csv.partial").exists()  # nothing half-made


def test_without_nats_bench_it_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # import fails
    with pytest.raises(InputError, match=r"pip install 'coexplore\[nb201\]'"):
        make_accuracy_csv(archive_folder(tmp_path), tmp_path / "table.csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x08\x07\x12\x0b\x91\x80pytorch onnx", "UnicodeDecodeError"),  # an ONNX model's bytes
        (b'{"space": "chain"}\n', "missing column(s)"),
        (b"ArchitectureString,CIFAR10TestAccuracy200Epochs\n" + b"x" * 200_000, "csv.Error"),
    ],
)
def test_a_file_that_is_not_the_table_is_one_line(tmp_path, content, message):
    path = tmp_path / "wrong.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_accuracy_table(path)
    text = str(caught.value)
    assert "not a NAS-Bench-201 accuracy table" in text and "nb201-table" in text
    assert message in text and "\n" not in text


def test_the_nb201_preset_on_a_model_file_is_one_line(tmp_path, monkeypatch):
    """The issue's case: COEXPLORE_NB201_CSV pointing at an ONNX model ended in a traceback."""
    model = Path(__file__).resolve().parents[2] / "docs" / "examples" / "resnet18.onnx"
    monkeypatch.setenv("COEXPLORE_NB201_CSV", str(model))
    out = tmp_path / "run"
    result = runner.invoke(app, ["search", "--preset", "nb201", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a NAS-Bench-201 accuracy table" in lines[0], result.stderr
    assert "Traceback" not in result.output
