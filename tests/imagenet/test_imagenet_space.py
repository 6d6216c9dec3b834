"""The ImageNet space: its verbs, its workload, and a torch model that agrees with the workload."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from coexplore.archfile import parse_arch, space_for
from coexplore.slow.builders import build_model
from coexplore.spaces import SPACES, ImagenetArch, ImagenetLayer, ImagenetSpace, ImagenetStage
from coexplore.workload import LayerKind

FILTERS = ((4, 6), (6, 8), (8, 12), (12, 16), (16, 24))
SMALL = ImagenetSpace(depth=7, stage_filters=FILTERS)
# SE and hard-swish searched per layer (MnasNet, MobileNetV3)
MOBILE = ImagenetSpace(depth=7, stage_filters=FILTERS, se_choices=(False, True),
                       activations=("relu", "hswish"))  # fmt: skip


def indices(space: ImagenetSpace) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(st.integers(0, len(t.choices) - 1) for t in space.token_types()))


def test_stage_layout_and_widening_filters() -> None:
    space = ImagenetSpace(depth=8)
    assert space.stage_depths == (1, 1, 2, 2, 2)
    assert ImagenetSpace(depth=10).stage_depths == (2,) * 5
    widths = [max(t.choices) for t in space.token_types() if t.kind.startswith("filters")]
    assert widths == sorted(widths) and len(widths) == 5
    with pytest.raises(ValueError, match="depth"):
        ImagenetSpace(depth=4)


def test_workload_downsamples_per_stage_and_ends_with_pool_and_fc() -> None:
    space = ImagenetSpace(depth=5)
    stages = tuple(ImagenetStage(f[0], (ImagenetLayer(3, "conv"),)) for f in space.stage_filters)
    layers = space.workload(ImagenetArch(stages), (3, 224, 224), 1000).layers
    assert [x.out_rows for x in layers[:5]] == [112, 56, 28, 14, 7]
    assert all(x.stride == 2 and x.kind is LayerKind.CONV for x in layers[:5])
    pool, fc = layers[-2:]
    assert pool.kind is LayerKind.POOL and (pool.input_rows, pool.out_rows) == (7, 1)
    assert fc.kind is LayerKind.FC and (fc.in_channels, fc.out_channels) == (160, 1000)


def test_separable_layers_are_depthwise_then_pointwise() -> None:
    space = ImagenetSpace(depth=5)
    stages = tuple(ImagenetStage(f[-1], (ImagenetLayer(5, "sep"),)) for f in space.stage_filters)
    layers = space.workload(ImagenetArch(stages), (3, 64, 64), 10).layers
    dw, pw = layers[2], layers[3]
    assert dw.kind is LayerKind.DWCONV and (dw.in_channels, dw.kernel, dw.stride) == (32, 5, 2)
    assert pw.kind is LayerKind.CONV and (pw.in_channels, pw.out_channels, pw.kernel) == (32, 48, 1)


def test_malformed_json_names_the_field() -> None:
    space = ImagenetSpace(depth=5)
    data = space.to_json(space.sample(np.random.default_rng(1)))
    data["stages"][2]["layers"][0]["kernel"] = 4
    with pytest.raises(ValueError, match=r"stages\[2\]\.layers\[0\]\.kernel: 4"):
        space.from_json(data)
    with pytest.raises(ValueError, match="space"):
        space.from_json({**data, "space": "chain"})


def test_architecture_files_find_the_space_by_name() -> None:
    space = ImagenetSpace(depth=7)
    arch = space.sample(np.random.default_rng(2))
    data = space.to_json(arch)
    assert SPACES["imagenet"] is ImagenetSpace and space_for(data) == space
    loaded = parse_arch({**data, "input_shape": [3, 64, 64], "num_classes": 100})
    assert loaded.arch == arch and loaded.workload == space.workload(arch, (3, 64, 64), 100)


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv_linear_macs(model: nn.Module, shape: tuple[int, int, int]) -> int:
    total = 0

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
        elif isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * kernel

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, *shape))
    for handle in handles:
        handle.remove()
    return total


@settings(max_examples=16, deadline=None)
@given(
    data=st.data(),
    shape=st.sampled_from([(3, 32, 32), (1, 28, 28), (3, 23, 17)]),
    classes=st.integers(2, 9),
    space=st.sampled_from([SMALL, MOBILE]),
)
def test_model_params_and_macs_match_the_workload(
    data: st.DataObject, shape: tuple[int, int, int], classes: int, space: ImagenetSpace
) -> None:
    arch = space.decode(data.draw(indices(space)))
    model = build_model(space, arch, shape, classes)
    workload = space.workload(arch, shape, classes)
    assert trainable(model) == workload.params
    assert conv_linear_macs(model, shape) == workload.macs
    assert model(torch.randn(2, *shape)).shape == (2, classes)


def test_hardware_is_costed_at_the_deployment_resolution() -> None:
    from coexplore.config import parse_config
    from coexplore.problem import make_pool, make_space

    spec = {"spec": {"fps": 100.0}}
    config = parse_config({**spec, "space": {"name": "imagenet", "depth": 5}})
    space = make_space(config)  # space.hardware_resolution defaults to 224
    arch = space.sample(np.random.default_rng(0))
    deployed = space.workload(arch, (3, 64, 64), 100)  # trained at the 64 x 64 proxy
    proxy = ImagenetSpace(depth=5).workload(arch, (3, 64, 64), 100)
    full = ImagenetSpace(depth=5).workload(arch, (3, 224, 224), 100)
    assert deployed.layers == full.layers and deployed.macs > 10 * proxy.macs
    off = parse_config(
        {**spec, "space": {"name": "imagenet", "depth": 5, "hardware_resolution": 0}}
    )
    assert make_space(off).workload(arch, (3, 64, 64), 100).layers == proxy.layers
    with pytest.raises(ValueError, match="hardware_resolution"):
        ImagenetSpace(hardware_resolution=-1)
    pool = make_pool(parse_config({**spec, "hardware": {"clock_mhz": 150.0, "fill": False}}))
    assert {d.clock_mhz for d in pool.devices} == {150.0} and not pool.fill


def test_squeeze_excitation_and_hard_swish_are_opt_in_choices() -> None:
    """Off by default (the default space's tokens and keys are what they were); on, each layer
    can take SE (pool, two 1x1 convs, a scale reading the map again) and hard-swish."""
    default = ImagenetSpace(depth=5)
    assert {t.kind for t in default.token_types()} == {f"filters{s}" for s in range(5)} | {
        "kernel", "op"}  # fmt: skip
    kinds = {t.kind for t in ImagenetSpace(depth=5, se_choices=(False, True)).token_types()}
    assert "se" in kinds and "act" not in kinds
    layer = ImagenetLayer(3, "sep", se=True, act="hswish")
    stages = tuple(ImagenetStage(f[0], (layer,)) for f in default.stage_filters)
    arch = ImagenetArch(stages)
    assert arch.key.startswith("imagenet:f16/sep3+se+hswish-")
    space = MOBILE.for_json(MOBILE.to_json(arch))  # a file names what it uses
    assert space.se_choices == (False, True) and space.activations == ("relu", "hswish")
    work = space.workload(arch, (3, 64, 64), 10)
    first = [(x.kind.value, x.function) for x in work.layers[:7]]
    assert first == [("dwconv", ""), ("act", "hswish"), ("pool", ""), ("conv", ""),
                     ("conv", ""), ("scale", ""), ("conv", "")]  # fmt: skip
    assert work.skips[0] == (1, 5) and work.layers[3].out_channels == max(1, 3 // 4)
    relu = ImagenetArch(tuple(ImagenetStage(f[0], (ImagenetLayer(3, se=True),)) for f in
                              default.stage_filters))  # fmt: skip
    scale = ImagenetSpace(depth=5, se_choices=(True,)).workload(relu, (3, 64, 64), 10).layers[4]
    assert (scale.kind, scale.function) == (LayerKind.SCALE, "sigmoid")
    with pytest.raises(ValueError, match=r"stages\[0\]\.layers\[0\]\.se"):
        default.encode(arch)
