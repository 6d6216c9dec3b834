"""Write the export folder of one trial: architecture, design, C header, weights, ONNX, manifest."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from coexplore.errors import InputError
from coexplore.export.header import c_header
from coexplore.export.hls_files import write_trial_hls
from coexplore.export.model import (
    ExportError,
    NotTrained,
    TrainedChild,
    export_onnx,
    onnx_difference,
    retrain,
    save_weights,
)
from coexplore.hardware.devices import Precision
from coexplore.hardware.pipeline import HardwareDesign
from coexplore.report.rundata import RunView, open_run
from coexplore.storage import TrialRecord, TrialState

# Largest |ONNX Runtime - PyTorch| logit difference accepted, relative to the largest logit.
ONNX_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: dict[str, Path]  # what -> path, e.g. "onnx" -> out_dir/model.onnx
    notes: list[str] = field(default_factory=list)  # things skipped or worth knowing


def exportable_trial(view: RunView, number: int) -> TrialRecord:
    """The trial, if it trained; otherwise ExportError saying why, in one line."""
    trial = view.trial(number)
    if trial.state is TrialState.PRUNED:
        raise ExportError(
            f"trial {number} was pruned before training ({trial.reason}); "
            "only trained (complete) trials can be exported"
        )
    if trial.state is not TrialState.COMPLETE:
        raise ExportError(
            f"trial {number} is {trial.state.value} ({trial.reason or 'no reason'});"
            " only trained (complete) trials can be exported"
        )
    return trial


def export_trial(
    run_dir: Path, number: int, out: Path | None = None, epochs: int | None = None
) -> ExportResult:
    """Export trial ``number`` of the run in ``run_dir`` (default folder: run/export/trial-N)."""
    view = open_run(run_dir)
    trial = exportable_trial(view, number)
    out_dir = Path(out) if out is not None else Path(run_dir) / "export" / f"trial-{number}"
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    notes: list[str] = []
    files["architecture"] = _write_json(
        out_dir / "architecture.json", architecture_json(view, trial)
    )
    _write_hardware(view, trial, out_dir, files, notes)
    child = _retrained(view, trial, notes, epochs)
    trained = _write_model(view, trial, child, out_dir, files, notes, epochs)
    trained |= _write_hls(view, trial, child, out_dir, files, notes)
    manifest = {
        "run": str(view.run_dir.resolve()),
        "trial": number,
        "files": {what: path.name for what, path in files.items()},
        "notes": notes,
        "precision": trial.precision,  # the arithmetic the design computes in
        "accuracy_at": trial.accuracy_at,  # the network's validation accuracy at each
        "stored_metrics": trial.flat_metrics(),
        **trained,
    }
    files["manifest"] = _write_json(out_dir / "export.json", manifest)
    return ExportResult(out_dir, files, notes)


def architecture_json(view: RunView, trial: TrialRecord) -> dict[str, Any]:
    """The trial's architecture with the run's input shape and classes (an architecture file)."""
    shape, classes = view.data_shape
    return {**trial.arch, "input_shape": list(shape), "num_classes": classes}


def _write_hardware(
    view: RunView, trial: TrialRecord, out_dir: Path, files: dict[str, Path], notes: list[str]
) -> None:
    evaluation = view.evaluation(trial)
    if trial.hardware is None or evaluation is None:
        notes.append("the trial has no hardware design: design.json and design.h not written")
        return
    files["design"] = _write_json(out_dir / "design.json", trial.hardware)
    if not evaluation.stages:
        notes.append(f"design.h not written: the design does not evaluate ({evaluation.reason})")
        return
    if evaluation.reason:
        notes.append(f"the design evaluates with a problem: {evaluation.reason}")
    design = HardwareDesign.from_json(trial.hardware)
    workload = view.workload(trial.arch)
    text = c_header(design, evaluation, workload, view.pool, view.name, trial.number)
    files["header"] = out_dir / "design.h"
    files["header"].write_text(text)


def _retrained(
    view: RunView, trial: TrialRecord, notes: list[str], epochs: int | None
) -> TrainedChild | None:
    try:
        return retrain(view, trial, epochs)
    except NotTrained as exc:
        notes.append(f"{exc}: weights.pt, model.onnx and hls/ not written")
        return None


def _write_hls(
    view: RunView,
    trial: TrialRecord,
    child: TrainedChild | None,
    out_dir: Path,
    files: dict[str, Path],
    notes: list[str],
) -> dict[str, Any]:
    """hls/: the design's engines as HLS C++ with the child's weights in its words."""
    if child is None or trial.hardware is None:
        return {}
    design = HardwareDesign.from_json(trial.hardware)
    if design.precision is Precision.FP32:
        notes.append("hls/ not written: the design computes in fp32 (the engine is fixed-point)")
        return {}
    source = {
        "kind": "trial",
        "run": str(view.run_dir.resolve()),
        "trial": trial.number,
        "seed": child.seed,
        "dataset": view.config.data.dataset,
        "name": view.name,
    }
    start = time.perf_counter()
    try:
        exported = write_trial_hls(
            out_dir / "hls", child.model, child.data, design, view.pool, source
        )
    except InputError as exc:  # a layer the engine has no loop for: the rest is still exported
        notes.append(f"hls/ not written: {exc}")
        return {}
    files["hls"] = exported.out_dir
    notes.extend(exported.notes)
    return {
        "hls": {
            "precision": design.precision.value,
            "fpgas": len(exported.plans),
            "bytes": exported.size_bytes,
            "seconds": time.perf_counter() - start,
        }
    }


def _write_model(
    view: RunView,
    trial: TrialRecord,
    child: TrainedChild | None,
    out_dir: Path,
    files: dict[str, Path],
    notes: list[str],
    epochs: int | None,
) -> dict[str, Any]:
    if child is None:
        return {}
    files["weights"] = out_dir / "weights.pt"
    save_weights(child.model, files["weights"])
    files["onnx"] = out_dir / "model.onnx"
    exporter = export_onnx(child.model, child.input_shape, files["onnx"])
    difference = onnx_difference(child.model, files["onnx"], child.input_shape)
    if difference is None:
        notes.append("onnxruntime is not installed: the ONNX file was not checked")
    elif difference > ONNX_TOLERANCE:
        raise ExportError(
            f"ONNX output differs from PyTorch by {difference:.3g} (relative, > "
            f"{ONNX_TOLERANCE:g}); do not use {files['onnx']}"
        )
    stored = trial.float_accuracy
    if epochs is None and stored is not None and abs(child.val_accuracy - stored) > 1e-9:
        notes.append(
            f"retrained validation accuracy {child.val_accuracy:.4f} differs from the "
            f"stored {stored:.4f} (another device or torch version?)"
        )
    return {
        "training": {
            "seed": child.seed,
            "epochs": child.epochs,
            "seconds": child.seconds,
            "val_accuracy": child.val_accuracy,
            "stored_val_accuracy": stored,
            "torch": torch.__version__,
        },
        "onnx": {
            "exporter": exporter,
            "input": "image",
            "output": "logits",
            "max_difference_vs_torch": difference,
        },
    }


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
