"""`coexplore estimate MODEL.onnx --hls DIR`: the best design's engines as HLS C++ with the
model's own weights (docs/hls.md). Torch-free: the ONNX initializers are the weights, the
formats are calibrated in numpy on the images given (.npy) or on random ones (said)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coexplore.errors import UserError
from coexplore.hardware.devices import Pool, Precision
from coexplore.hardware.engine.fixed import word_bits
from coexplore.hardware.engine.net import EngineNet
from coexplore.hardware.hls.inputs import (
    RANDOM_IMAGES,
    calibrated,
    load_images,
    random_description,
    random_images,
)
from coexplore.hardware.hls.writer import write_hls


def engine_of(
    network: Path, shape: tuple[int, int, int] | None, pools: int, precision: Precision
) -> EngineNet:
    """The network with its weights, checked to be one an HLS export can take."""
    from coexplore.onnx_import.engine import load_onnx_engine_net

    if network.suffix.lower() != ".onnx":
        raise UserError(
            "--hls needs an ONNX model with its weights (for a run's architecture: "
            "`coexplore export RUN --trial N` writes hls/)"
        )
    if pools != 1:
        raise UserError("--hls exports the best design on one pool: give one --pool")
    if precision is Precision.FP32:
        raise UserError("--hls: the engine computes in fixed16 or fixed8 words, not fp32")
    return load_onnx_engine_net(network, shape)


def write_estimate_hls(
    out_dir: Path,
    network: Path,
    net: EngineNet,
    result: Any,
    pool: Pool,
    precision: Precision,
    images_file: Path | None,
) -> list[str]:
    """Write hls/ for the result's design; the lines to print."""
    if result.evaluation is None or result.design is None:
        raise UserError(f"no design to export: {result.reason or 'the network was pruned'}")
    bits = word_bits(precision)
    if images_file is None:
        images, told = (
            random_images(RANDOM_IMAGES, net.input_shape),
            random_description(RANDOM_IMAGES),
        )
    else:
        images = load_images(images_file, net.input_shape)
        told = f"{len(images)} images of {images_file}"
    qnet = calibrated(net, images, bits)
    source = {"kind": "onnx", "model": str(network.resolve()), "name": network.stem,
              "calibration": told}  # fmt: skip
    exported = write_hls(out_dir, qnet, result.design, pool, source)
    lines = [f"hls: {out_dir} ({len(exported.plans)} FPGAs, {precision.value}; formats "
             f"calibrated on {told})"]  # fmt: skip
    if images_file is None:
        lines.append("hls: give --hls-images your_images.npy to calibrate on your data")
    return lines + [f"note: {note}" for note in exported.notes]
