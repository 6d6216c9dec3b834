"""How much fixed8 costs fully trained default-preset children, and whether a short
quantisation-aware fine-tune wins it back (an experiment: nothing here is used by a run).

For `--children` chain architectures of the default preset (drawn with `--seed`), each trained
the preset's 8 epochs on mnist5k: the validation accuracy in float, fixed16 and fixed8 through
the engine's arithmetic (`accuracy_at_precisions`), then two fine-tunes of `--epochs` epochs from
those weights at a tenth of the preset's learning rate, constant:

- `qat`: every weight, the input and the output of every ReLU and batch norm fake-quantised to
  8-bit words of power-of-two formats in the forward pass (weights: the finest format that holds
  the largest weight, each step; activations: the engine's formats from 256 calibration images,
  fixed for the fine-tune), gradients passed straight through (the straight-through estimator:
  round and clip count as the identity inside the word's range);
- `float`: the same fine-tune without fake quantisation, the control (more training alone).

and again float, fixed16 and fixed8 after each, through the real integer arithmetic.

    .venv/bin/python bench/fixed8_finetune.py                 # 3 children, 1 epoch
    .venv/bin/python bench/fixed8_finetune.py --children 4 --epochs 2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import time

import numpy as np
import torch
from torch import nn

from coexplore.config import load_config
from coexplore.hardware.devices import Precision
from coexplore.hardware.engine.fixed import Calibrator, max_frac
from coexplore.problem import make_space
from coexplore.slow.builders import build_model
from coexplore.slow.jobs import load_data
from coexplore.slow.precision_accuracy import (
    CALIBRATION_IMAGES,
    accuracy_at_precisions,
    calibration_batch,
)
from coexplore.slow.trainer import train_child

ALL = [Precision.FP32, Precision.FIXED16, Precision.FIXED8]
BITS = 8


def fake_quant(x: torch.Tensor, frac: int) -> torch.Tensor:
    """x as 8-bit words of `frac` fraction bits (round half up, saturate), with the gradient of
    the identity (straight through)."""
    top = float(1 << (BITS - 1))
    words = torch.floor(x * 2.0**frac + 0.5).clamp(-top, top - 1)
    return x + (words * 2.0**-frac - x).detach()


class QuantWeight(nn.Module):
    """A parametrization: the weight fake-quantised in the finest format that holds it."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_quant(weight, max_frac(float(weight.detach().abs().max()), BITS))


def activation_fracs(model: nn.Module, images: torch.Tensor) -> dict[str, int]:
    """The engine's rule for every ReLU and batch-norm output and the input: the finest
    format holding the largest magnitude over the calibration images."""
    calibrator = Calibrator(BITS)
    hooks = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: calibrator.observe(name, out.detach().numpy())
        )
        for name, module in model.named_modules()
        if isinstance(module, nn.ReLU | nn.BatchNorm2d)
    ]
    calibrator.observe("input", images.numpy())
    model.eval()
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    return {str(site): frac for site, frac in calibrator.fracs().items()}


def quantisation_aware(model: nn.Module, images: torch.Tensor) -> tuple[nn.Module, list]:
    """A copy of `model` that computes with fake-quantised weights and activations, and the
    hooks that quantise the activations (`plain` takes them off again)."""
    fracs = activation_fracs(model, images)
    qat = copy.deepcopy(model)
    hooks = []
    for name, module in qat.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.utils.parametrize.register_parametrization(module, "weight", QuantWeight())
        if name in fracs:
            quantise = lambda _m, _i, out, frac=fracs[name]: fake_quant(out, frac)  # noqa: E731
            hooks.append(module.register_forward_hook(quantise))
    hooks.append(qat.register_forward_pre_hook(lambda _m, a: (fake_quant(a[0], fracs["input"]),)))
    return qat, hooks


def plain(model: nn.Module, hooks: list) -> nn.Module:
    """The fine-tuned weights in a model without parametrizations or hooks."""
    for hook in hooks:
        hook.remove()
    for module in model.modules():
        if nn.utils.parametrize.is_parametrized(module, "weight"):
            nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    return model


def scores(model: nn.Module, data, seed: int) -> list[float]:  # type: ignore[no-untyped-def]
    result = accuracy_at_precisions(model.eval(), data, ALL, seed=seed)
    return [result.at(p) for p in ALL]


def child(space, arch, data, config, seed: int, epochs: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    model = build_model(space, arch, data.input_shape, data.num_classes, seed=seed)
    train_child(model, data, config.train, seed)
    rows = {"trained": scores(model, data, seed)}
    tune = dataclasses.replace(config.train, epochs=epochs, lr=config.train.lr / 10,
                               lr_schedule="constant")  # fmt: skip
    images = calibration_batch(data, seed, CALIBRATION_IMAGES)
    qat, hooks = quantisation_aware(model, images)
    train_child(qat, data, tune, seed + 1)
    rows["qat"] = scores(plain(qat, hooks), data, seed)
    control = copy.deepcopy(model)
    train_child(control, data, tune, seed + 1)
    rows["float"] = scores(control, data, seed)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config("default")
    torch.set_num_threads(config.train.threads or torch.get_num_threads())
    space, data = make_space(config), load_data(config.data, config.run.seed)
    rng = np.random.default_rng(args.seed)
    print(
        f"load average before: {os.getloadavg()[0]:.2f}; accuracies float / fixed16 / fixed8 "
        f"on {len(data.val_y)} validation images; fine-tunes of {args.epochs} epoch(s)"
    )
    start = time.perf_counter()
    drops = {"trained": [], "qat": [], "float": []}
    for index in range(args.children):
        arch = space.sample(rng)
        print(arch.key[6:])
        rows = child(space, arch, data, config, args.seed + index, args.epochs)
        for name, (fp, f16, f8) in rows.items():
            drops[name].append(fp - f8)
            drop = 100 * (fp - f8)
            print(f"  {name:8} {fp:.4f} / {f16:.4f} / {f8:.4f}   fixed8 drop {drop:+.2f}")
    for name, values in drops.items():
        print(f"mean fixed8 drop, {name:8}: {100 * np.mean(values):+.2f} points")
    print(f"{time.perf_counter() - start:.0f} s; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
