"""Training throughput of `train_child` against a minimal hand-written PyTorch loop.

Both train the same model (same initial weights), on the same in-memory data, with the same
batch size and optimizer (SGD with momentum, constant lr, no augmentation), and both validate
once per epoch. Images/s counts training images over the wall time of the whole call. Each
variant (reference, train_child, train_child with channels_last, with bf16 autocast, with both)
is measured `--repeats` times, interleaved, and the best of each is kept: noise on a shared
machine only ever slows a run down.

    .venv/bin/python bench/train_throughput.py            # mnist5k, CUDA if present
    .venv/bin/python bench/train_throughput.py --data synthetic --epochs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
import torch.nn.functional as F
from torch import nn

from coexplore.slow.builders import build_model
from coexplore.slow.data import DataSplits, load_dataset
from coexplore.slow.trainer import TrainConfig, evaluate, resolve_device, train_child
from coexplore.spaces import ChainArch, ChainLayer, ChainSpace

SMALL, MEDIUM, MEDIUM_S2 = ChainLayer(3, 24), ChainLayer(5, 36), ChainLayer(5, 36, 2)
LARGE = (ChainLayer(3, 64, 2), ChainLayer(7, 64), ChainLayer(5, 64))
ARCHS = {
    "small  (4 x k3 f24)": ChainArch((SMALL,) * 4),
    "medium (6 x k5 f36, s2 at 3)": ChainArch((MEDIUM, MEDIUM, MEDIUM_S2, MEDIUM, MEDIUM, MEDIUM)),
    "large  (6 x k3-7 f64, s2 at 1,4)": ChainArch(LARGE * 2),
}


def synthetic_splits(count: int, seed: int) -> DataSplits:
    """Random 3x32x32 images with random labels: throughput does not depend on the content."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (count,), generator=generator)
    train, val = slice(0, count * 9 // 10), slice(count * 9 // 10, None)
    return DataSplits(x[train], y[train], x[val], y[val], x[val], y[val], 10, (3, 32, 32), "synth")


def reference_loop(model: nn.Module, data: DataSplits, config: TrainConfig, seed: int) -> float:
    """What a PyTorch tutorial writes; returns seconds. Same steps as train_child."""
    start = time.perf_counter()
    device = resolve_device(config.device)
    model.to(device)
    x_all, y_all = data.train_x.to(device), data.train_y.to(device)
    val_x, val_y = data.val_x.to(device), data.val_y.to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    generator = torch.Generator(device=device).manual_seed(seed)
    batch = config.batch_size
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(y_all), generator=generator, device=device)
        for step in range(len(y_all) // batch):
            index = order[step * batch : (step + 1) * batch]
            loss = F.cross_entropy(model(x_all[index]), y_all[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        evaluate(model, val_x, val_y)
    return time.perf_counter() - start


def images_per_second(data: DataSplits, config: TrainConfig, seconds: float) -> float:
    steps = len(data.train_y) // config.batch_size
    return config.epochs * steps * config.batch_size / seconds


def measure(arch: ChainArch, data: DataSplits, config: TrainConfig, repeats: int) -> dict:
    """Best images/s of each variant over `repeats` interleaved rounds."""
    space = ChainSpace(depth=arch.depth, stride_mode="predictable")

    def model() -> nn.Module:
        return build_model(space, arch, data.input_shape, data.num_classes, seed=0)

    def ours(cfg: TrainConfig) -> float:
        result = train_child(model(), data, cfg, seed=0)
        assert result.ok, result.reason
        return result.seconds

    variants = {
        "ref": lambda: reference_loop(model(), data, config, seed=0),
        "ours": lambda: ours(config),
        "cl": lambda: ours(dataclasses.replace(config, channels_last=True)),
        "bf16": lambda: ours(dataclasses.replace(config, bf16=True)),
        "both": lambda: ours(dataclasses.replace(config, channels_last=True, bf16=True)),
    }
    ours(config)  # warm-up: allocator, kernel selection
    best = dict.fromkeys(variants, 0.0)
    for _ in range(repeats):
        for name, run in variants.items():
            best[name] = max(best[name], images_per_second(data, config, run()))
    return best


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("mnist5k", "synthetic"), default="mnist5k")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=2500, help="images used (train+val+test)")
    args = parser.parse_args()
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer="sgd", lr=0.01,
        lr_schedule="constant", augment=False, weight_decay=5e-4, threads=0,
    )  # fmt: skip
    if args.data == "mnist5k":
        data = load_dataset("mnist5k", seed=0, limit=args.limit)
    else:
        data = synthetic_splits(args.limit, seed=0)
    device = resolve_device(config.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    print(
        f"data: {data.name} {data.input_shape}, {len(data.train_y)} train images, "
        f"batch {config.batch_size}, {config.epochs} epoch(s), best of {args.repeats}"
    )
    header = ("architecture", "ref img/s", "ours img/s", "ratio", "+ch_last", "+bf16", "+both")
    print("{:<34}{:>11}{:>12}{:>8}{:>10}{:>10}{:>10}".format(*header))
    for name, arch in ARCHS.items():
        r = measure(arch, data, config, args.repeats)
        print(f"{name:<34}{r['ref']:>11.0f}{r['ours']:>12.0f}{r['ours'] / r['ref']:>8.3f}"
              f"{r['cl']:>10.0f}{r['bf16']:>10.0f}{r['both']:>10.0f}", flush=True)  # fmt: skip
    print("ratio = ours / ref (target >= 0.95); +options are train_child images/s with them on")


if __name__ == "__main__":
    main()
