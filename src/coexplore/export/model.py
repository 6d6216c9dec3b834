"""The trained child of a trial: its weights (state_dict) and its ONNX graph.

A run keeps no weights (a trial stores its metrics only), so export trains the child again the
way the search did: the run's data split and train config, the trial's seed for the weights'
initialisation and the shuffling. Training is deterministic on one kind of device with one torch
version, so on the machine that ran the search this gives back the very child it measured; the
export records the new validation accuracy next to the stored one, so any drift is visible.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from coexplore.errors import CoexploreError
from coexplore.report.rundata import RunView
from coexplore.slow.jobs import TrainJob, run_train_job, train_model
from coexplore.storage import TrialRecord
from coexplore.wiring import build_setup

ONNX_OPSET = 18


class ExportError(CoexploreError):
    """A trial could not be exported; the message says why in one line."""


class NotTrained(ExportError):
    """The run looked its accuracies up (a benchmark table): there is no child to train."""


@dataclass(frozen=True)
class TrainedChild:
    model: nn.Module  # in eval mode, on the CPU
    input_shape: tuple[int, int, int]
    num_classes: int
    seed: int  # the seed it was trained with (the trial's, or the trained trial it reused)
    epochs: int
    val_accuracy: float
    seconds: float
    data: Any = None  # the DataSplits it trained on (calibration images of its engine)


def training_source(view: RunView, trial: TrialRecord) -> TrialRecord:
    """The trial whose training ``trial`` stands for (a repeated architecture reuses one)."""
    while trial.reused_from is not None:
        trial = view.trial(trial.reused_from)
    return trial


def retrain(view: RunView, trial: TrialRecord, epochs: int | None = None) -> TrainedChild:
    """Train the child of ``trial`` as the search did (or for ``epochs`` epochs instead).

    Trains through `coexplore.slow.jobs.train_model`, as the search's workers do.
    """
    source = training_source(view, trial)
    setup = build_setup(view.config)
    if setup.train_fn is not run_train_job:
        raise NotTrained(
            f"run {view.name} did not train its children (its accuracies come "
            f"from {getattr(setup.train_fn, '__name__', 'elsewhere')})"
        )
    train = setup.train if epochs is None else replace(setup.train, epochs=epochs)
    start = time.perf_counter()
    model, result, data = train_model(
        TrainJob(source.arch, setup.data, setup.seed, train, source.seed)
    )
    if not result.ok:
        raise ExportError(f"trial {trial.number}: training the child again failed: {result.reason}")
    seconds = time.perf_counter() - start
    shape = tuple(data.input_shape)
    return TrainedChild(
        model.cpu().eval(),
        shape,
        data.num_classes,
        source.seed,
        train.epochs,
        result.val_accuracy,
        seconds,
        data,
    )


def save_weights(model: nn.Module, path: Path) -> None:
    """The state_dict, loadable into ``build_model(...)`` of the same architecture."""
    torch.save(model.state_dict(), path)


def export_onnx(model: nn.Module, input_shape: tuple[int, int, int], path: Path) -> str:
    """Write ``model`` as ONNX (input "image", output "logits", batch axis dynamic); the name
    of the exporter that worked.

    The torch.export-based exporter (needs onnxscript) is tried first; the TorchScript one is
    the fallback where onnxscript is missing or the new exporter fails on a model.
    """
    example = torch.randn(2, *input_shape)
    failures = []
    for exporter in ("dynamo", "torchscript"):
        try:
            with _quiet():
                _export(model, example, path, dynamo=exporter == "dynamo")
            return exporter
        except Exception as exc:  # any failure of one exporter means: try the other one
            failures.append(f"{exporter}: {type(exc).__name__}: {_first_line(exc)}")
    raise ExportError(f"ONNX export failed ({'; '.join(failures)})")


def _export(model: nn.Module, example: torch.Tensor, path: Path, dynamo: bool) -> None:
    if dynamo:
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            external_data=False,
            input_names=["image"],
            output_names=["logits"],
            opset_version=ONNX_OPSET,
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
    else:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            opset_version=ONNX_OPSET,
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def onnx_difference(
    model: nn.Module, path: Path, input_shape: tuple[int, int, int], batch: int = 4
) -> float | None:
    """Largest |ONNX Runtime - PyTorch| over the logits of a random batch, divided by the
    largest |logit| (at least 1); None when onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"image": x.numpy()})
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    return float(np.abs(got - expected).max() / max(1.0, float(np.abs(expected).max())))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' warnings and log chatter for one export."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
