"""C simulation of an hls/ folder: build it with g++, run input words through the FPGAs, and
check every FPGA's output tensors against the reference arithmetic (`reference.run_integer`,
docs/fixed-point.md) and every layer's compute-loop trips against the cycle model's compute
term (`accelerator.compute_cycles`).

    result = check(hls_dir, words)        # words: (images, C, H, W) input words
    print(result.last_line())             # csim: N images, D outputs differ, cycles counted ...
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from coexplore.errors import InputError
from coexplore.hardware.engine.fixed import IntArray
from coexplore.hardware.engine.net import EngineNet
from coexplore.hardware.engine.quantise import QuantNet
from coexplore.hardware.engine.reference import predict, run_integer
from coexplore.hardware.hls.manifest import LoadedEngine, load_engine, word_dtype
from coexplore.hardware.hls.project import CXX_STANDARD

REFERENCE_BATCH = 25  # images per reference pass: int64 windows of a wide layer stay small
FLAGS = (
    "-O2",
    f"-std={CXX_STANDARD}",
    "-Wall",
    "-Wextra",
    "-Wno-unknown-pragmas",
    "-Wno-unused-label",
    "-Iinclude",
)


class CsimError(InputError):
    """The simulation could not be built or run (no compiler, a compile error, a crash)."""


@dataclass(frozen=True, eq=False)
class CsimResult:
    images: int
    outputs: int  # output tensors compared: FPGA outputs x images
    differing: int  # of those, the ones with any word unlike the reference's
    differing_words: int
    counted: tuple[int, ...]  # per layer, per image: the engine's compute-loop trips
    modelled: tuple[int, ...]  # per layer: the cycle model's compute term
    trips_vary: bool  # the counts differ between images (they must not: the loops are fixed)
    predictions: IntArray  # the class of each image (or pixel) from the simulation's output
    reference_predictions: IntArray
    build_seconds: float
    run_seconds: float

    @property
    def mismatched_layers(self) -> tuple[int, ...]:
        pairs = zip(self.counted, self.modelled, strict=True)
        return tuple(i for i, (a, b) in enumerate(pairs) if a != b)

    def last_line(self) -> str:
        return (
            f"csim: {self.images} images, {self.differing} outputs differ, "
            f"cycles counted {sum(self.counted)} modelled {sum(self.modelled)}"
        )


def compiler() -> str:
    """The C++ compiler: $CXX, else g++; CsimError when there is none."""
    name = os.environ.get("CXX", "g++")
    found = shutil.which(name)
    if found is None:
        raise CsimError(f"no C++ compiler: {name} is not installed (set CXX to another)")
    return found


def build(hls_dir: Path, jobs: int = 2, extra_flags: tuple[str, ...] = ()) -> float:
    """Compile ./csim in `hls_dir` (the Makefile's recipe: one object per source, in
    parallel; `extra_flags` e.g. sanitizers); the seconds it took."""
    start = time.perf_counter()
    cxx, folder = compiler(), Path(hls_dir)
    sources = ["host.cpp", *sorted(p.name for p in folder.glob("fpga*.cpp"))]

    def compile_one(source: str) -> subprocess.CompletedProcess[str]:
        command = [cxx, *FLAGS, *extra_flags, "-c", "-o", source.replace(".cpp", ".o"), source]
        return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(compile_one, sources))
    for source, result in zip(sources, results, strict=True):
        if result.returncode:
            raise CsimError(f"{folder / source} does not compile: {_first_error(result.stderr)}")
    objects = [s.replace(".cpp", ".o") for s in sources]
    link = subprocess.run([cxx, *FLAGS, *extra_flags, "-o", "csim", *objects], cwd=folder,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if link.returncode:
        raise CsimError(f"{folder}: linking csim failed: {_first_error(link.stderr)}")
    return time.perf_counter() - start


def _first_error(text: str) -> str:
    lines = [line for line in text.splitlines() if "error" in line] or text.splitlines() or [""]
    return lines[0].strip()


def simulate(
    hls_dir: Path, engine: LoadedEngine, words: npt.ArrayLike
) -> tuple[dict[tuple[int, int], IntArray], IntArray, float]:
    """Run ./csim on input words (images, C, H, W): each output tensor (by (FPGA, layer)) as
    (images, C, H, W) words, the trips (images, layers), and the seconds it ran."""
    folder, bits = Path(hls_dir), engine.qnet.bits
    x = np.asarray(words, dtype=np.int64)
    images = len(x)
    x.astype(word_dtype(bits)).tofile(folder / "inputs.bin")
    start = time.perf_counter()
    args = ["./csim", "inputs.bin", "outputs.bin", "trips.bin", str(images)]
    result = subprocess.run(args, cwd=folder, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise CsimError(f"{folder}/csim failed ({result.returncode}): {result.stderr.strip()}")
    shapes = [engine.qnet.net.ops[t].out_shape for _, t in engine.outputs]
    per_image = sum(int(np.prod(s)) for s in shapes)
    flat = np.fromfile(folder / "outputs.bin", dtype=word_dtype(bits)).astype(np.int64)
    flat = flat.reshape(images, per_image)
    outputs, start_word = {}, 0
    for key, shape in zip(engine.outputs, shapes, strict=True):
        size = int(np.prod(shape))
        outputs[key] = flat[:, start_word : start_word + size].reshape(images, *shape)
        start_word += size
    trips = np.fromfile(folder / "trips.bin", dtype="<u8").astype(np.int64)
    return outputs, trips.reshape(images, -1), seconds


def reference_tensors(qnet: QuantNet, words: IntArray, layers: list[int]) -> dict[int, IntArray]:
    """The reference's words of each op in `layers` (the net cut after it), in batches."""
    found: dict[int, IntArray] = {}
    for layer in sorted(set(layers)):
        net = qnet.net
        cut = EngineNet(net.input_shape, net.ops[: layer + 1], net.name)
        prefix = QuantNet(cut, qnet.bits, qnet.input_frac, qnet.ops[: layer + 1])
        batches = [
            run_integer(prefix, words[start : start + REFERENCE_BATCH])
            for start in range(0, len(words), REFERENCE_BATCH)
        ]
        found[layer] = np.concatenate(batches)
    return found


def check(hls_dir: Path, words: npt.ArrayLike, jobs: int = 2, built: bool = False) -> CsimResult:
    """Build (unless `built`) and run the simulation on `words` (images, C, H, W) and compare
    it with the reference."""
    engine = load_engine(hls_dir)
    x = np.asarray(words, dtype=np.int64)
    shape = engine.qnet.net.input_shape
    if x.ndim != 4 or tuple(x.shape[1:]) != shape or not len(x):
        raise InputError(f"input words of shape {x.shape}: at least one image of {shape} needed")
    build_seconds = 0.0 if built else build(hls_dir, jobs)
    outputs, trips, run_seconds = simulate(hls_dir, engine, x)
    expected = reference_tensors(engine.qnet, x, [t for _, t in engine.outputs])
    differing = differing_words = 0
    for (_, layer), got in outputs.items():
        unequal = got != expected[layer]
        differing += int(unequal.reshape(len(x), -1).any(axis=1).sum())
        differing_words += int(unequal.sum())
    last = len(engine.qnet.net.ops) - 1
    final = next(got for (_, layer), got in outputs.items() if layer == last)
    return CsimResult(
        images=len(x),
        outputs=len(outputs) * len(x),
        differing=differing,
        differing_words=differing_words,
        counted=tuple(int(v) for v in trips[0]) if len(x) else (),
        modelled=engine.modelled,
        trips_vary=bool(len(x) and (trips != trips[0]).any()),
        predictions=predict(final),
        reference_predictions=predict(expected[last]),
        build_seconds=build_seconds,
        run_seconds=run_seconds,
    )
