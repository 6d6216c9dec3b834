"""The exported HLS engines checked by C simulation, as a user runs them (docs/hls.md).

    .venv/bin/python bench/hls_check.py RUN_DIR [--images 100] [--out /tmp/hls_check]

runs three checks through the command line (`coexplore export`, `coexplore estimate --hls`,
`coexplore csim`) and prints, for each exported design, the csim's last line, the build and
simulation seconds and the size of hls/:

1. the run's OptSW and OptHW (`picks.json`): `coexplore export RUN --trial N` (the child
   trained again), then `coexplore csim` on the first N test images of the run's dataset;
2. a NAS-Bench-201 network of the cell below (skip connections, a 3 x 3 average pool,
   reduction blocks with their residual shortcut) on a 3 x 32 x 32 input, random weights and
   batch-norm statistics away from their initial values (seed 0), written as ONNX and
   exported with `coexplore estimate --hls` on the default pool, simulated on random images;
3. ResNet-18 of docs/examples/onnx_models.py with its random weights (seed 0) at 3 x 64 x 64
   on 2 x XCZU9EG, the same way.

Every check must end `0 outputs differ` with counted = modelled cycles.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from coexplore.export.model import export_onnx
from coexplore.slow.builders import build_model
from coexplore.spaces import Nb201Arch, Nb201Space

COEXPLORE = str(Path(sys.executable).with_name("coexplore"))
ROOT = Path(__file__).resolve().parents[1]
NB201_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
DEFAULT_POOL = "2xXC7Z020+1xXC7A50T"


def run(*args: str) -> tuple[str, float]:
    """A coexplore command's output and seconds; stops the script when it fails."""
    start = time.perf_counter()
    done = subprocess.run([COEXPLORE, *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0,):
        command = " ".join(args)
        sys.exit(f"coexplore {command} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout, seconds


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def csim(name: str, folder: Path, images: int, made_seconds: float) -> None:
    written = folder_bytes(folder / "hls" if (folder / "hls").is_dir() else folder)
    output, seconds = run("csim", str(folder), "--images", str(images))
    lines = output.strip().splitlines()
    timing = next(line for line in lines if line.startswith("build "))
    metric = next((line for line in lines if "top-1" in line or "equal to" in line), "")
    print(
        f"{name}: exported in {made_seconds:.0f} s, hls/ {written / 1e6:.2f} MB; "
        f"csim {seconds:.0f} s ({timing}); {metric}\n  {lines[-1]}",
        flush=True,
    )


def check_picks(run_dir: Path, out: Path, images: int) -> None:
    picks = json.loads((run_dir / "picks.json").read_text())
    for pick in ("opt_sw", "opt_hw"):
        trial = picks[pick]["trial"]
        folder = out / f"{run_dir.name}-trial-{trial}"
        _, seconds = run("export", str(run_dir), "--trial", str(trial), "--out", str(folder))
        csim(f"{pick} (trial {trial})", folder, images, seconds)


def nb201_onnx(path: Path) -> Path:
    space = Nb201Space()
    model = build_model(space, Nb201Arch.from_string(NB201_CELL), (3, 32, 32), 10, seed=0).eval()
    rng = np.random.default_rng(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.tensor(rng.normal(0, 0.5, n)))
            module.running_var.copy_(torch.tensor(rng.uniform(0.3, 3, n)))
            module.weight.data.copy_(torch.tensor(rng.normal(1, 0.5, n)))
            module.bias.data.copy_(torch.tensor(rng.normal(0, 0.5, n)))
    export_onnx(model, (3, 32, 32), path)
    return path


def resnet18_onnx(path: Path) -> Path:
    """docs/examples/onnx_models.py's ResNet-18 with its random weights (seed 0, as the script
    writes them with --weights)."""
    spec = importlib.util.spec_from_file_location(
        "onnx_models", ROOT / "docs/examples/onnx_models.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    torch.manual_seed(0)
    return Path(script.export(script.resnet18(), path, weights=True))


def check_onnx(name: str, model: Path, out: Path, images: int, *options: str) -> None:
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)
    _, seconds = run("estimate", str(model), *options, "--hls", str(folder))
    csim(name, folder, images, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("/tmp/hls_check"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    check_picks(args.run_dir, args.out, args.images)
    model = nb201_onnx(args.out / "nb201.onnx")
    check_onnx("nb201", model, args.out, args.images, "--pool", DEFAULT_POOL)
    resnet = resnet18_onnx(args.out / "resnet18.onnx")
    options = ("--input-shape", "3x64x64", "--pool", "2xXCZU9EG")
    check_onnx("resnet18", resnet, args.out, args.images, *options)


if __name__ == "__main__":
    main()
