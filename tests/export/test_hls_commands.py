"""hls/ as `coexplore export` and `coexplore estimate --hls` write it, and `coexplore csim`:
the run's calibration, the model's compute term per layer, a simulation equal to the
fixed-point evaluation on the run's test images, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hls_helpers import need_compiler
from test_export_bundle import load_child
from typer.testing import CliRunner

from coexplore.cli import app
from coexplore.export import ExportResult
from coexplore.export.model import export_onnx
from coexplore.hardware.accelerator import compute_cycles
from coexplore.hardware.hls import load_engine
from coexplore.hardware.hls.project import PARTS
from coexplore.hardware.pipeline import HardwareDesign
from coexplore.report import open_run
from coexplore.slow.builders import build_model
from coexplore.slow.engine_convert import engine_net
from coexplore.slow.jobs import load_data
from coexplore.slow.precision_accuracy import CALIBRATION_IMAGES, calibrate, calibration_batch
from coexplore.spaces import ChainSpace
from coexplore.storage import TrialRecord

runner = CliRunner()
LAST_LINE = re.compile(
    r"^csim: (\d+) images, (\d+) outputs differ, cycles counted (\d+) modelled (\d+)$"
)


def test_the_exported_engine_is_the_trials_design_in_the_searchs_words(
    exported: ExportResult, run_dir: Path, complete_trial: TrialRecord
) -> None:
    """Design, precision and the modelled compute cycles are the trial's; the words are the
    retrained child's calibrated on the training images the search draws with its seed."""
    engine = load_engine(exported.files["hls"])
    design = HardwareDesign.from_json(complete_trial.hardware or {})
    assert engine.design == design and engine.qnet.bits == design.precision.word_bits
    view = open_run(run_dir)
    layers = view.workload(complete_trial.arch).layers
    expected = [
        int(compute_cycles(layers[i], stage.tiling))
        for stage in design.stages
        for i in range(stage.first_layer, stage.last_layer + 1)
    ]
    assert list(engine.modelled) == expected
    data = load_data(view.config.data, view.config.run.seed)
    model = load_child(exported)
    images = calibration_batch(data, complete_trial.seed, CALIBRATION_IMAGES)
    (qnet,) = calibrate(
        engine_net(model, data.input_shape), images, [design.precision], torch.device("cpu")
    )
    assert qnet.input_frac == engine.qnet.input_frac
    for ours, theirs in zip(engine.qnet.ops, qnet.ops, strict=True):
        assert (ours.read_fracs, ours.core_frac, ours.out_frac) == (
            theirs.read_fracs,
            theirs.core_frac,
            theirs.out_frac,
        )
        assert np.array_equal(ours.weight, theirs.weight) and np.array_equal(ours.bias, theirs.bias)


def test_csim_of_the_export_equals_the_fixed_point_evaluation(exported: ExportResult) -> None:
    need_compiler()
    result = runner.invoke(app, ["csim", str(exported.out_dir), "--images", "40"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    match = LAST_LINE.match(lines[-1])
    assert match is not None, lines[-1]
    images, differ, counted, modelled = map(int, match.groups())
    assert (images, differ) == (40, 0) and counted == modelled > 0
    top1 = next(line for line in lines if line.startswith("top-1"))
    simulated, evaluated, reference = (float(v) for v in re.findall(r" (\d\.\d{4})", top1))
    assert simulated == evaluated == reference
    assert "the first 40 test images of digits" in result.output


def test_run_hls_tcl_has_a_project_per_fpga_with_its_part_and_clock(exported: ExportResult) -> None:
    engine = load_engine(exported.files["hls"])
    tcl = (exported.files["hls"] / "run_hls.tcl").read_text()
    rows = re.findall(r"^    (\d+) (cx_fpga\d+_top) (\S+) ([\d.]+)$", tcl, re.MULTILINE)
    assert len(rows) == len(engine.design.stages)
    for (index, top, part, period), fpga in zip(rows, engine.info["fpgas"], strict=True):
        assert (int(index), top, part) == (fpga["index"], fpga["top"], PARTS[fpga["device"]])
        assert float(period) == pytest.approx(1000 / fpga["clock_mhz"], abs=1e-3)
    assert "csynth_design" in tcl and "set_top $top" in tcl


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    space = ChainSpace(depth=3)
    arch = space.sample(np.random.default_rng(4))
    model = build_model(space, arch, (1, 10, 10), 4, seed=0).eval()
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(model, (1, 10, 10), path)
    return path


def test_estimate_hls_of_an_onnx_model_simulates_exactly(tiny_onnx: Path, tmp_path: Path) -> None:
    need_compiler()
    folder = tmp_path / "hls"
    made = runner.invoke(
        app, ["estimate", str(tiny_onnx), "--pool", "2xXC7Z020", "--hls", str(folder)]
    )
    assert made.exit_code == 0, made.output
    assert "formats calibrated on 64 random images (standard normal, seed 0)" in made.output
    result = runner.invoke(app, ["csim", str(folder), "--images", "6"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("csim: 6 images, 0 outputs differ")
    assert "random images (standard normal, seed 1)" in result.output
    images = np.random.default_rng(9).uniform(0, 1, (5, 1, 10, 10))
    np.save(tmp_path / "mine.npy", images)
    mine = ["--hls", str(tmp_path / "mine"), "--hls-images", str(tmp_path / "mine.npy")]
    again = runner.invoke(app, ["estimate", str(tiny_onnx), "--pool", "2xXC7Z020", *mine])
    assert again.exit_code == 0 and f"5 images of {tmp_path / 'mine.npy'}" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["estimate", "{arch}", "--hls", "{tmp}/x"], "--hls needs an ONNX model"),
        (["estimate", "{onnx}", "--pool", "1xXC7Z020", "--pool", "2xXC7Z020", "--hls", "{tmp}/x"],
         "give one --pool"),
        (["estimate", "{resnet}", "--hls", "{tmp}/x"], "its weights cannot be read"),
        (["estimate", "{onnx}", "--hls", "{tmp}/x", "--precision", "fp32"], "not fp32"),
        (["csim", "{tmp}"], "no hls/engine.json here"),
    ],
)  # fmt: skip
def test_what_cannot_be_exported_or_simulated_is_one_line(
    args: list[str], message: str, tiny_onnx: Path, tmp_path: Path
) -> None:
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"space": "chain", "layers": [{"kernel": 3, "filters": 8}],
                                "input_shape": [1, 8, 8], "num_classes": 3}))  # fmt: skip
    resnet = Path(__file__).parents[2] / "docs" / "examples" / "resnet18.onnx"
    filled = [a.format(arch=arch, onnx=tiny_onnx, resnet=resnet, tmp=tmp_path) for a in args]
    result = runner.invoke(app, filled)
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and message in error[0]


def test_csim_without_a_compiler_says_so(
    exported: ExportResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    result = runner.invoke(app, ["csim", str(exported.out_dir), "--images", "2"])
    assert result.exit_code == 2
    assert "error: no C++ compiler: no-such-compiler-here is not installed" in result.output
