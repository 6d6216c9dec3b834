"""The hls/ folder of an exported trial, and the C simulation of an exported folder.

Export: the trained child as an engine net (`slow.engine_convert`), its formats calibrated at
the design's precision (`HardwareDesign.precision`) on the run's training images drawn with the
trial's seed (`slow.precision_accuracy.calibration_batch`: the same images the search's
accuracy at precision calibrates on), then `hardware.hls.write_hls`.

C simulation (`csim_folder`): the folder's engine run on N images and checked against the
reference arithmetic and the cycle model (`hardware.hls.check`); the images are the run's test
split for a trial's export (its labels give the top-1 accuracy of the simulation and of the
fixed-point evaluation the search reports, `slow.precision_accuracy.integer_accuracy`), and
for a network exported by `coexplore estimate --hls` the images of an .npy file or seeded
random ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coexplore.errors import InputError
from coexplore.hardware.devices import Pool, Precision
from coexplore.hardware.engine.net import EngineNet
from coexplore.hardware.engine.quantise import QuantNet
from coexplore.hardware.engine.reference import input_words
from coexplore.hardware.hls import CsimResult, HlsExport, check, load_engine, write_hls
from coexplore.hardware.hls.inputs import (
    SIMULATION_SEED,
    load_images,
    random_description,
    random_images,
)
from coexplore.hardware.hls.manifest import MANIFEST
from coexplore.hardware.pipeline import HardwareDesign
from coexplore.slow.engine_convert import engine_net
from coexplore.slow.precision_accuracy import (
    CALIBRATION_IMAGES,
    calibrate,
    calibration_batch,
    integer_accuracy,
)
from coexplore.slow.segmentation import confusion, is_segmentation, scores_of
from coexplore.slow.splits import DataSplits


def quantised_child(
    model: torch.nn.Module, data: DataSplits, precision: Precision, seed: int, name: str = ""
) -> QuantNet:
    """The trained model in words at `precision`, formats from CALIBRATION_IMAGES training
    images drawn with `seed` (the search's choice for the same child)."""
    net = engine_net(model, data.input_shape, name)
    images = calibration_batch(data, seed, CALIBRATION_IMAGES)
    return calibrate(net, images, [precision], torch.device("cpu"))[0]


def write_trial_hls(
    out_dir: Path,
    model: torch.nn.Module,
    data: DataSplits,
    design: HardwareDesign,
    pool: Pool,
    source: dict[str, Any],
) -> HlsExport:
    qnet = quantised_child(
        model, data, design.precision, int(source["seed"]), source.get("name", "")
    )
    calibration = (
        f"{min(CALIBRATION_IMAGES, len(data.train_x))} training images drawn with seed "
        f"{source['seed']}"
    )
    return write_hls(out_dir, qnet, design, pool, {**source, "calibration": calibration})


@dataclass(frozen=True, eq=False)
class CsimReport:
    result: CsimResult
    hls_dir: Path
    images_from: str  # where the images came from, in words
    lines: tuple[str, ...]  # what to print before the result's last line


def hls_folder(path: Path) -> Path:
    """The hls/ folder of an export folder (or the folder itself)."""
    for candidate in (Path(path) / "hls", Path(path)):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise InputError(f"{path}: no hls/{MANIFEST} here (export a trial, or estimate with --hls)")


def csim_folder(
    path: Path, images: int, inputs: Path | None = None, jobs: int = 2, layers: bool = False
) -> CsimReport:
    """Build and run the simulation of an export on `images` images and check it; `layers`:
    a line per layer (counted and modelled cycles), else only the layers that differ."""
    folder = hls_folder(path)
    engine = load_engine(folder)
    if images < 1:
        raise InputError(f"--images must be >= 1, got {images}")
    x, y, images_from = _images(engine.info["source"], engine.qnet.net, images, inputs)
    result = check(folder, input_words(engine.qnet, x), jobs)
    lines = list(_layer_lines(engine.info, result, layers))
    lines.append(f"images: {images_from}")
    lines.append(
        f"build {result.build_seconds:.1f} s, simulation {result.run_seconds:.1f} s "
        f"({result.run_seconds / len(x) * 1e3:.1f} ms per image)"
    )
    lines += _accuracy_lines(engine.qnet, result, x, y)
    return CsimReport(result, folder, images_from, tuple(lines))


def _images(
    source: dict[str, Any], net: EngineNet, count: int, inputs: Path | None
) -> tuple[np.ndarray, torch.Tensor | None, str]:
    if inputs is not None:
        x = load_images(inputs, net.input_shape)[:count]
        return x, None, f"{len(x)} images of {inputs}"
    if source.get("kind") == "trial":
        data = _run_data(Path(source["run"]))
        y = data.test_y[:count]
        images = data.test_x[:count].numpy().astype(np.float64)
        return images, y, f"the first {len(y)} test images of {data.name}"
    x = random_images(count, net.input_shape, SIMULATION_SEED)
    return x, None, f"{random_description(count, SIMULATION_SEED)}; no labels"


def _run_data(run_dir: Path) -> DataSplits:
    """The run's data split as its search split it (its [data] section and run seed)."""
    from coexplore.report.rundata import open_run
    from coexplore.slow.jobs import load_data

    if not run_dir.is_dir():
        raise InputError(f"the export's run {run_dir} is not here: give --inputs images.npy")
    config = open_run(run_dir).config
    data: DataSplits = load_data(config.data, config.run.seed)
    return data


def _layer_lines(info: dict[str, Any], result: CsimResult, every: bool) -> list[str]:
    lines = []
    for fpga in info["fpgas"]:
        first, last = fpga["first_layer"], fpga["last_layer"]
        counted = sum(result.counted[first : last + 1])
        modelled = sum(result.modelled[first : last + 1])
        lines.append(
            f"FPGA {fpga['index']} ({fpga['device']}, layers {first}..{last}): compute-loop "
            f"trips {counted}, modelled compute cycles {modelled}"
        )
    shown = range(len(result.counted)) if every else result.mismatched_layers
    for index in shown:
        op = info["ops"][index]
        name = f"{op['kind']} {op['name']}".strip()
        mark = "" if index not in result.mismatched_layers else "  <- differs"
        lines.append(
            f"  layer {index} ({name}): counted {result.counted[index]}, "
            f"modelled {result.modelled[index]}{mark}"
        )
    if result.trips_vary:
        lines.append("  the trips differ between images (the loops must not depend on data)")
    if result.differing:
        lines.append(f"{result.differing_words} words differ from the reference")
    return lines


def _accuracy_lines(
    qnet: QuantNet, result: CsimResult, x: np.ndarray, y: torch.Tensor | None
) -> list[str]:
    """The metric of the simulation's outputs and of the fixed-point evaluation the search
    reports (the torch fast path), and the numpy reference's, on the same images."""
    bits = f"fixed{qnet.bits}"
    if y is None:
        agree = float(np.mean(result.predictions == result.reference_predictions))
        return [f"predictions equal to the {bits} reference's on {agree:.2%} of the images"]
    images = torch.as_tensor(x, dtype=torch.float32)
    fast = integer_accuracy(qnet, images, y, torch.device("cpu"))
    classes = qnet.net.output_shape[0]
    simulated = _metric(result.predictions, y, classes)
    reference = _metric(result.reference_predictions, y, classes)
    metric = "foreground IoU" if is_segmentation(y) else "top-1"
    return [
        f"{metric} on these {len(y)} images: simulation {simulated:.4f}, fixed-point evaluation "
        f"({bits}, as the search scores it) {fast:.4f}, numpy reference {reference:.4f}"
    ]


def _metric(predictions: np.ndarray, y: torch.Tensor, classes: int) -> float:
    """Top-1 accuracy, or the foreground IoU for segmentation masks (the trainer's metric)."""
    predicted = torch.as_tensor(predictions)
    if is_segmentation(y):
        return scores_of(confusion(predicted, y, classes)).iou
    return float((predicted.reshape(len(y)) == y).double().mean())
