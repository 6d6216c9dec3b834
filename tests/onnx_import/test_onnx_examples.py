"""The ONNX reader against torch: exact MACs of the example networks, and the same design and
FPS as the architecture-JSON path for the search spaces' networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from onnx_helpers import EXAMPLES, count_macs, example_script

from coexplore.archfile import parse_arch
from coexplore.export.model import export_onnx
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import parse_pool
from coexplore.onnx_import import load_onnx_workload
from coexplore.slow.builders import build_model
from coexplore.spaces import ChainSpace, ImagenetSpace, SearchSpace, UnetSpace

SCRIPT = example_script()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """Each example network, built once, and its ONNX graph written by the example script."""
    folder = tmp_path_factory.mktemp("examples")
    out = {}
    for name, build in SCRIPT.MODELS.items():
        torch.manual_seed(0)
        model = build().eval()
        out[name] = (model, SCRIPT.export(model, folder / f"{name}.onnx"))
    return out


NAMES = list(SCRIPT.MODELS)  # VGG-16, ResNet-18, MobileNetV2, and modern_cnns.py's four


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_example_macs_equal_the_torch_hook_count(
    exported: dict[str, tuple[Any, Path]], name: str
) -> None:
    model, path = exported[name]
    workload = load_onnx_workload(path)
    assert workload.input_shape == SCRIPT.INPUT_SHAPE
    assert workload.macs == count_macs(model, SCRIPT.INPUT_SHAPE)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_committed_example_graphs_are_what_the_script_writes(
    exported: dict[str, tuple[Any, Path]], name: str
) -> None:
    fresh = load_onnx_workload(exported[name][1])
    committed = load_onnx_workload(EXAMPLES / f"{name}.onnx")
    assert [(*x.shape_key(), x.function) for x in committed.layers] == [
        (*x.shape_key(), x.function) for x in fresh.layers
    ]
    assert committed.skips == fresh.skips
    assert (EXAMPLES / f"{name}.onnx").stat().st_size < 1_000_000  # graphs only, no weights


def test_resnet18_has_its_shortcuts_as_skips() -> None:
    workload = load_onnx_workload(EXAMPLES / "resnet18.onnx")
    kinds = [x.kind.value for x in workload.layers]
    assert kinds.count("add") == 8 and kinds.count("conv") == 20
    for producer, consumer in workload.skips:  # every skip feeds an add or a shortcut conv
        assert kinds[consumer] in ("add", "conv")
        assert producer < consumer - 1


SPACES: list[tuple[SearchSpace[Any], tuple[int, int, int], int, str]] = [
    (ChainSpace(depth=4), (3, 32, 32), 10, "1xXC7Z020+1xXC7A50T"),
    (ChainSpace(depth=4, stride_mode="predictable"), (1, 28, 28), 10, "2xXC7Z020"),
    (ImagenetSpace(depth=6), (3, 64, 64), 20, "1xXCZU3EG+1xXC7Z020"),
    (
        ImagenetSpace(depth=6, se_choices=(True,), activations=("relu", "hswish")),
        (3, 32, 32),
        10,
        "1xXCZU3EG+1xXC7Z020",
    ),  # SE on every layer, ReLU or hard-swish; maps down to 1 x 1
    (UnetSpace(levels=3), (3, 32, 32), 2, "2xXC7Z020"),
]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", SPACES, ids=lambda c: f"{c[0].name}-{c[1][1]}-{c[0].size()}")
def test_onnx_path_gives_the_json_path_design(
    case: tuple[SearchSpace[Any], tuple[int, int, int], int, str], seed: int, tmp_path: Path
) -> None:
    space, shape, classes, pool_text = case
    arch = space.sample(np.random.default_rng(seed))
    from_json = parse_arch(space.to_json(arch), shape, classes).workload
    model = build_model(space, arch, shape, classes, seed=seed)
    export_onnx(model, shape, tmp_path / "child.onnx")  # what `coexplore export` writes
    from_onnx = load_onnx_workload(tmp_path / "child.onnx")

    assert [(*x.shape_key(), x.function) for x in from_onnx.layers] == [
        (*x.shape_key(), x.function) for x in from_json.layers
    ]
    assert from_onnx.skips == from_json.skips
    assert from_onnx.macs == from_json.macs == count_macs(model, shape)
    pool = parse_pool(pool_text)
    by_json = OptimalExplorer(pool).explore(from_json)
    by_onnx = OptimalExplorer(pool).explore(from_onnx)
    assert by_json.evaluation is not None and by_onnx.evaluation is not None
    assert by_onnx.design == by_json.design
    assert by_onnx.evaluation.fps == by_json.evaluation.fps
