"""The U-Net space: verbs, a workload with upsampling, concatenation and skips, and its model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from coexplore.archfile import parse_arch, space_for
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Spec, load_catalog, parse_pool
from coexplore.slow.builders import build_model
from coexplore.spaces import SPACES, UnetArch, UnetLevel, UnetSpace
from coexplore.workload import LayerKind

SMALL = UnetSpace(levels=3, base_filters=(2, 3))


def indices(space: UnetSpace) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(st.integers(0, len(t.choices) - 1) for t in space.token_types()))


@pytest.mark.parametrize("levels", [1, 2, 4])
def test_two_tokens_per_level(levels: int) -> None:  # the contract suite covers the rest
    assert len(UnetSpace(levels=levels).token_types()) == 2 * levels


def test_filters_widen_with_depth_and_bad_json_names_the_field() -> None:
    space = UnetSpace()
    assert [space.level_filters(level)[0] for level in range(4)] == [8, 16, 32, 64]
    data = space.to_json(space.sample(np.random.default_rng(3)))
    data["levels"][1]["filters"] = 8
    with pytest.raises(ValueError, match=r"levels\[1\]\.filters: 8"):
        space.from_json(data)


ARCH = UnetArch((UnetLevel(3, 8), UnetLevel(5, 16), UnetLevel(3, 32), UnetLevel(7, 64)))


def test_workload_mirrors_the_encoder_with_upsampling_concat_and_skips() -> None:
    workload = UnetSpace().workload(ARCH, (3, 64, 64), 2)
    layers = workload.layers
    kinds = [x.kind for x in layers]
    assert kinds.count(LayerKind.POOL) == kinds.count(LayerKind.UPSAMPLE) == 3
    assert kinds.count(LayerKind.CONCAT) == 3 and kinds.count(LayerKind.CONV) == 15
    for producer, consumer in workload.skips:
        source, concat = layers[producer], layers[consumer]
        assert concat.kind is LayerKind.CONCAT and source.kind is LayerKind.CONV
        assert (source.out_rows, source.out_channels) == (concat.out_rows, source.out_channels)
        up = layers[consumer - 1]
        assert up.kind is LayerKind.UPSAMPLE and up.input_rows * 2 == up.out_rows
        assert concat.out_channels == up.out_channels + source.out_channels
    assert [layers[p].name for p, _ in workload.skips] == ["enc2.conv1", "enc1.conv1", "enc0.conv1"]
    head = layers[-1]
    assert (head.out_channels, head.out_rows, head.kernel) == (2, 64, 1)
    # A pipeline cut inside the U carries the open skip tensors across the link as well.
    cut = layers.index(next(x for x in layers if x.name == "enc3.conv1"))
    open_skips = sum(layers[p].output_words for p, _ in workload.skips)
    assert workload.boundary_words(cut) == layers[cut].output_words + open_skips


def test_inputs_must_halve_evenly() -> None:
    with pytest.raises(ValueError, match="divisible by 8"):
        UnetSpace().workload(ARCH, (3, 60, 64), 2)


def test_fast_exploration_designs_hardware_for_a_unet() -> None:
    pool = parse_pool("1xXCZU9EG+1xXCZU7EV", 10.0, load_catalog(None))
    result = OptimalExplorer(pool, Spec()).explore(UnetSpace().workload(ARCH, (3, 64, 64), 2))
    assert result.evaluation is not None and result.evaluation.fps > 0


def test_architecture_files_find_the_space_by_name() -> None:
    assert SPACES["unet"] is UnetSpace
    arch_json = UnetSpace(levels=3).to_json(UnetSpace(levels=3).sample(np.random.default_rng(0)))
    assert space_for(arch_json) == UnetSpace(levels=3)
    loaded = parse_arch({**arch_json, "input_shape": [3, 32, 32], "num_classes": 2})
    assert loaded.workload.layers[-1].out_rows == 32
    with pytest.raises(ValueError, match="levels: expected 3 levels, got 0"):
        UnetSpace(levels=3).from_json({"space": "unet", "levels": []})


def conv_macs(model: nn.Module, shape: tuple[int, int, int]) -> int:
    total = 0

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * kernel

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, *shape))
    for handle in handles:
        handle.remove()
    return total


@settings(max_examples=10, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(3, 16, 16), (1, 8, 24)]), classes=st.integers(1, 3))
def test_model_params_and_macs_match_the_workload(
    data: st.DataObject, shape: tuple[int, int, int], classes: int
) -> None:
    arch = SMALL.decode(data.draw(indices(SMALL)))
    model = build_model(SMALL, arch, shape, classes)
    workload = SMALL.workload(arch, shape, classes)
    assert sum(p.numel() for p in model.parameters()) == workload.params
    assert conv_macs(model, shape) == workload.macs
    assert model(torch.randn(2, *shape)).shape == (2, classes, *shape[1:])
