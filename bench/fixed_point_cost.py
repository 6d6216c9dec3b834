"""What the fixed-point accuracy costs a default-preset child, against one epoch of its training.

For `--children` chain architectures drawn from the default preset's space (depth 6, strides
1 or 2) with the run seed, on its data (mnist5k: 1,500 training, 2,000 validation images), with
its training settings and one torch thread (a pool worker's): one epoch of training (of the
8-epoch schedule; the trainer's own validation pass included), one float pass over the
validation split for scale, then `accuracy_at_precisions(fixed16, fixed8)` taking the trainer's
float accuracy (as the training job would), and its parts: conversion, calibration (two float
passes over 256 training images), each integer pass over the 2,000 validation images. Prints
the load average before and after: the machine is shared, and timings are only comparable
within one run.

    .venv/bin/python bench/fixed_point_cost.py               # 4 children
    .venv/bin/python bench/fixed_point_cost.py --children 8 --seed 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from coexplore.config import load_config
from coexplore.hardware.devices import Precision
from coexplore.problem import make_space
from coexplore.slow.builders import build_model
from coexplore.slow.engine_convert import engine_net
from coexplore.slow.jobs import load_data
from coexplore.slow.precision_accuracy import (
    CALIBRATION_IMAGES,
    accuracy_at_precisions,
    calibrate,
    calibration_batch,
    integer_accuracy,
)
from coexplore.slow.trainer import evaluate, train_child

BOTH = [Precision.FIXED16, Precision.FIXED8]


def timed(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def measure_child(space, arch, data, config, seed: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    model = build_model(space, arch, data.input_shape, data.num_classes, seed=seed)
    result, epoch_s = timed(train_child, model, data, config.train, seed, until_epoch=1)
    model.eval()
    _, float_s = timed(evaluate, model, data.val_x, data.val_y)
    accuracy, whole_s = timed(accuracy_at_precisions, model, data, BOTH, seed=seed,
                              float_accuracy=result.curve[-1])  # fmt: skip
    cpu = torch.device("cpu")
    net, convert_s = timed(engine_net, model, data.input_shape)
    images = calibration_batch(data, seed, CALIBRATION_IMAGES)
    qnets, calibrate_s = timed(calibrate, net, images, BOTH, cpu)
    passes = [timed(integer_accuracy, q, data.val_x, data.val_y, cpu)[1] for q in qnets]
    macs = space.workload(arch, data.input_shape, data.num_classes).macs
    return {
        "mmacs": macs / 1e6, "epoch_s": epoch_s, "float_pass_s": float_s, "whole_s": whole_s,
        "convert_s": convert_s, "calibrate_s": calibrate_s, "fixed16_s": passes[0],
        "fixed8_s": passes[1], "float": accuracy.float_accuracy,
        "fixed16": accuracy.at(Precision.FIXED16), "fixed8": accuracy.at(Precision.FIXED8),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config("default")
    torch.set_num_threads(config.train.threads or torch.get_num_threads())
    space = make_space(config)
    data = load_data(config.data, config.run.seed)
    rng = np.random.default_rng(args.seed)
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores), "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    print(
        f"{'child':44} {'MMAC':>6} {'epoch s':>8} {'float s':>8} {'fixed s':>8} {'ratio':>6}"
        "  parts: convert / calibrate / fixed16 / fixed8 s   accuracy float / 16 / 8"
    )
    ratios = []
    for index in range(args.children):
        arch = space.sample(rng)
        m = measure_child(space, arch, data, config, args.seed + index)
        ratios.append(m["whole_s"] / m["epoch_s"])
        print(f"{arch.key[6:]:44} {m['mmacs']:6.1f} {m['epoch_s']:8.2f} {m['float_pass_s']:8.2f} "
              f"{m['whole_s']:8.2f} {ratios[-1]:6.2f}  {m['convert_s']:.2f} / "
              f"{m['calibrate_s']:.2f} / {m['fixed16_s']:.2f} / {m['fixed8_s']:.2f}   "
              f"{m['float']:.4f} / {m['fixed16']:.4f} / {m['fixed8']:.4f}")  # fmt: skip
    print(f"fixed16 + fixed8 evaluation / one epoch: median {statistics.median(ratios):.2f}, "
          f"range {min(ratios):.2f} to {max(ratios):.2f}")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
