"""The torch models agree with the workloads the hardware side sees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from coexplore.slow.builders import build_model
from coexplore.spaces import ChainArch, ChainLayer, ChainSpace, Nb201Arch, Nb201Space

SHAPES = [(3, 32, 32), (1, 28, 28), (1, 8, 8), (3, 9, 7)]


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of every Conv2d and Linear for one image, counted by forward hooks."""
    total = 0

    def on_conv(module: nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total += output[0].numel() * module.in_channels // module.groups * kernel

    def on_linear(module: nn.Linear, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total  # once per row: per pixel for a Linear on a channels-last map (ConvNeXt)
        total += module.in_features * module.out_features * (output[0].numel() // output.shape[-1])

    handles = [
        m.register_forward_hook(on_conv if isinstance(m, nn.Conv2d) else on_linear)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, *input_shape))
    for handle in handles:
        handle.remove()
    return total


@st.composite
def chain_cases(draw: st.DrawFn) -> tuple[ChainSpace, ChainArch, tuple[int, int, int]]:
    depth = draw(st.integers(1, 5))
    space = ChainSpace(depth=depth, stride_mode="predictable")
    indices = tuple(draw(st.integers(0, len(t.choices) - 1)) for t in space.token_types())
    return space, space.decode(indices), draw(st.sampled_from(SHAPES))


@settings(max_examples=25, deadline=None)
@given(case=chain_cases(), classes=st.integers(2, 12))
def test_chain_model_matches_workload(
    case: tuple[ChainSpace, ChainArch, tuple[int, int, int]], classes: int
) -> None:
    space, arch, shape = case
    model = build_model(space, arch, shape, classes)
    workload = space.workload(arch, shape, classes)
    assert trainable_params(model) == workload.params
    assert count_macs(model, shape) == workload.macs
    assert model(torch.randn(2, *shape)).shape == (2, classes)


def test_chain_model_layer_order_follows_spec() -> None:
    arch = ChainArch((ChainLayer(5, 24), ChainLayer(3, 36)))
    model = build_model(ChainSpace(depth=2), arch, (1, 8, 8), 10)
    assert isinstance(model, nn.Sequential)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d] * 2 + [nn.Flatten, nn.Linear]
    first = model[0]
    assert isinstance(first, nn.Conv2d) and first.bias is not None and first.padding == (2, 2)


NB201_CASES = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
]


@pytest.mark.parametrize("text", NB201_CASES)
@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 16, 16)])
def test_nb201_model_matches_workload(text: str, shape: tuple[int, int, int]) -> None:
    space, arch = Nb201Space(), Nb201Arch.from_string(text)
    model = build_model(space, arch, shape, 10)
    workload = space.workload(arch, shape, 10)
    assert trainable_params(model) == workload.params
    assert count_macs(model, shape) == workload.macs
    assert model(torch.randn(2, *shape)).shape == (2, 10)


def test_nb201_random_cells_with_a_small_skeleton() -> None:
    space = Nb201Space(init_channels=4, cells_per_stage=1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        model = build_model(space, arch, (1, 8, 8), 3)
        workload = space.workload(arch, (1, 8, 8), 3)
        assert trainable_params(model) == workload.params
        assert count_macs(model, (1, 8, 8)) == workload.macs


def test_weights_come_from_the_seed_and_leave_the_global_rng_alone() -> None:
    space, arch = ChainSpace(depth=2), ChainArch((ChainLayer(3, 24), ChainLayer(1, 36)))
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model(space, arch, (1, 8, 8), 10, seed=5)
    assert torch.equal(torch.rand(1), expected_next)
    again = build_model(space, arch, (1, 8, 8), 10, seed=5)
    other = build_model(space, arch, (1, 8, 8), 10, seed=6)
    weights = [next(m.parameters()) for m in (first, again, other)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_unknown_space_lists_the_builders() -> None:
    class Elsewhere(ChainSpace):
        name = "elsewhere"

    with pytest.raises(KeyError, match=r"valid names: .*chain.*nb201"):
        build_model(Elsewhere(depth=1), ChainArch((ChainLayer(3, 24),)), (1, 8, 8), 10)
