"""`coexplore export`: the files, ONNX equal to PyTorch, and one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from coexplore.archfile import load_arch_file, space_for
from coexplore.cli import app
from coexplore.config import load_config
from coexplore.export import ExportError, ExportResult, export_trial
from coexplore.export import model as export_model
from coexplore.hardware.pipeline import HardwareDesign
from coexplore.report import RunView
from coexplore.slow.builders import build_model
from coexplore.storage import TrialRecord, TrialState

runner = CliRunner()


@pytest.fixture
def onnxruntime():
    """Only the tests that run the ONNX file need ONNX Runtime; the others run without it."""
    return pytest.importorskip("onnxruntime")


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def load_child(exported: ExportResult) -> torch.nn.Module:
    arch_json = json.loads(exported.files["architecture"].read_text())
    space = space_for(arch_json)
    shape, classes = tuple(arch_json["input_shape"]), arch_json["num_classes"]
    model = build_model(space, space.from_json(arch_json), shape, classes, seed=123)
    model.load_state_dict(torch.load(exported.files["weights"], weights_only=True))
    return model.eval()


def test_every_file_is_written(exported: ExportResult, complete_trial: TrialRecord) -> None:
    assert set(exported.files) == {
        "architecture",
        "design",
        "header",
        "weights",
        "onnx",
        "hls",
        "manifest",
    }
    assert exported.out_dir.name == f"trial-{complete_trial.number}"
    files = [path for what, path in exported.files.items() if what != "hls"]
    assert all(path.is_file() and path.stat().st_size > 0 for path in files)
    assert (exported.files["hls"] / "engine.json").is_file()
    design = json.loads(exported.files["design"].read_text())
    assert design == complete_trial.hardware
    assert HardwareDesign.from_json(design).to_json() == design
    manifest = json.loads(exported.files["manifest"].read_text())
    assert manifest["trial"] == complete_trial.number
    assert manifest["training"]["seed"] == complete_trial.seed
    difference = manifest["onnx"]["max_difference_vs_torch"]
    assert difference is None if not _has_onnxruntime() else difference < 1e-4


def test_onnx_gives_the_pytorch_outputs(exported: ExportResult, onnxruntime) -> None:
    model = load_child(exported)
    shape = tuple(json.loads(exported.files["architecture"].read_text())["input_shape"])
    x = torch.randn(7, *shape, generator=torch.Generator().manual_seed(1))  # another batch size
    session = onnxruntime.InferenceSession(
        str(exported.files["onnx"]), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape == (7, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_weights_are_trained_not_initial(exported: ExportResult, run_dir: Path) -> None:
    trained = load_child(exported)
    arch_json = json.loads(exported.files["architecture"].read_text())
    space = space_for(arch_json)
    shape = tuple(arch_json["input_shape"])
    manifest = json.loads(exported.files["manifest"].read_text())
    seed = manifest["training"]["seed"]
    initial = build_model(space, space.from_json(arch_json), shape, 10, seed=seed)
    differs = [
        not torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), initial.state_dict().values(), strict=True)
    ]
    assert any(differs)
    assert 0.0 < manifest["training"]["val_accuracy"] <= 1.0


def test_architecture_file_loads_in_estimate(
    exported: ExportResult, complete_trial: TrialRecord
) -> None:
    path = exported.files["architecture"]
    workload = load_arch_file(path).workload
    assert workload.input_shape == (1, 8, 8)
    args = ["estimate", str(path), "--pool", "2xXC7Z020+1xXC7A50T", "--spec-fps", "2600", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.output)
    assert estimate["metrics"]["fps"] == pytest.approx(complete_trial.metrics["fps"])
    assert estimate["design"] == complete_trial.hardware


def test_pruned_and_unknown_trials_are_one_line_errors(
    run_dir: Path, run_trials: list[TrialRecord], tmp_path: Path
) -> None:
    pruned = next(t for t in run_trials if t.state is TrialState.PRUNED)
    with pytest.raises(ExportError, match=f"trial {pruned.number} was pruned"):
        export_trial(run_dir, pruned.number, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    for number in (pruned.number, 999, -1):
        result = runner.invoke(app, ["export", str(run_dir), "--trial", str(number)])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and f"trial {number}" in lines[0]


def test_torchscript_exporter_is_the_fallback(
    exported: ExportResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_model._export

    def no_dynamo(model: torch.nn.Module, example: torch.Tensor, path: Path, dynamo: bool) -> None:
        if dynamo:
            raise ModuleNotFoundError("No module named 'onnxscript'")
        real(model, example, path, dynamo)

    monkeypatch.setattr(export_model, "_export", no_dynamo)
    model = load_child(exported)
    path = tmp_path / "fallback.onnx"
    assert export_model.export_onnx(model, (1, 8, 8), path) == "torchscript"
    difference = export_model.onnx_difference(model, path, (1, 8, 8), batch=3)
    assert difference is None if not _has_onnxruntime() else difference < 1e-4


def test_export_without_onnxruntime_writes_every_file_and_says_so(
    run_dir: Path, complete_trial: TrialRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    result = export_trial(run_dir, complete_trial.number, tmp_path / "no-ort")
    assert {"onnx", "weights", "header", "manifest"} <= set(result.files)
    manifest = json.loads(result.files["manifest"].read_text())
    assert manifest["onnx"]["max_difference_vs_torch"] is None
    assert any("onnxruntime is not installed" in note for note in result.notes)


def test_a_run_that_looked_accuracies_up_exports_no_weights(
    run_dir: Path, complete_trial: TrialRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_model.build_setup

    def table_lookup(job: object) -> None:  # stands in for the NAS-Bench-201 table trainer
        raise AssertionError("never called")

    monkeypatch.setattr(
        export_model, "build_setup", lambda config: replace(real(config), train_fn=table_lookup)
    )
    result = export_trial(run_dir, complete_trial.number, tmp_path / "table")
    assert set(result.files) == {"architecture", "design", "header", "manifest"}
    assert any("table_lookup" in note and "weights.pt" in note for note in result.notes)


def test_a_reused_trial_is_trained_with_the_seed_of_the_trial_it_reused(
    run_trials: list[TrialRecord], tmp_path: Path
) -> None:
    first = next(t for t in run_trials if t.state is TrialState.COMPLETE)
    repeat = replace(first, number=99, seed=12345, reused_from=first.number, attempts=0)
    view = RunView(tmp_path, load_config("quick"), (*run_trials, repeat), "finished")
    assert export_model.training_source(view, repeat) is first
