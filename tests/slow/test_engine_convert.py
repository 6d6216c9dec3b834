"""A trained torch model as an engine net: the same layers as the space's workload, the same
outputs in float, batch norm folded exactly, and one clear error for what it cannot map."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from coexplore.errors import InputError
from coexplore.hardware.engine.net import ZEROS, Affine, OpKind, Relu
from coexplore.hardware.engine.reference import run_float
from coexplore.slow.builders import build_model
from coexplore.slow.engine_convert import engine_net
from coexplore.spaces import ChainSpace, ImagenetSpace, Nb201Arch, Nb201Space, UnetSpace

SPACES = {
    "chain": (ChainSpace(depth=4, stride_mode="predictable"), [(1, 12, 12), (3, 9, 7)]),
    "nb201": (Nb201Space(cells_per_stage=2), [(3, 8, 8), (1, 12, 8)]),
    "imagenet": (ImagenetSpace(depth=7), [(3, 32, 32), (3, 24, 40)]),
    "imagenet+se+hswish": (
        ImagenetSpace(depth=7, se_choices=(False, True), activations=("relu", "hswish")),
        [(3, 32, 32), (3, 24, 40)],
    ),
    "unet": (UnetSpace(levels=3), [(1, 16, 16), (3, 8, 12)]),
}


def randomise_batchnorm(model: nn.Module, rng: np.random.Generator) -> None:
    """Statistics and affine far from the initial ones, so that folding them matters."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.tensor(rng.normal(0, 0.5, n)))
            module.running_var.copy_(torch.tensor(rng.uniform(0.3, 3, n)))
            module.weight.data.copy_(torch.tensor(rng.normal(1, 0.5, n)))
            module.bias.data.copy_(torch.tensor(rng.normal(0, 0.5, n)))


def trained_like(space: Any, arch: Any, shape: tuple[int, int, int], seed: int) -> nn.Module:
    model = build_model(space, arch, shape, 5, seed=seed)
    randomise_batchnorm(model, np.random.default_rng(seed))
    return model.eval()


@settings(max_examples=24, deadline=None)
@given(name=st.sampled_from(sorted(SPACES)), index=st.integers(0, 1), seed=st.integers(0, 10**6))
def test_engine_net_has_the_space_workload_and_the_model_output(
    name: str, index: int, seed: int
) -> None:
    space, shapes = SPACES[name]
    shape = shapes[index]
    arch = space.sample(np.random.default_rng(seed))
    model = trained_like(space, arch, shape, seed)
    net = engine_net(model, shape)
    ours, theirs = net.workload(), space.workload(arch, shape, 5)
    assert [x.shape_key() for x in ours.layers] == [x.shape_key() for x in theirs.layers]
    assert [x.function for x in ours.layers] == [x.function for x in theirs.layers]
    assert ours.skips == theirs.skips
    assert ours.macs == theirs.macs
    images = torch.randn(3, *shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.double()(images.double()).numpy()
    got = run_float(net, images.double().numpy())
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-9, atol=1e-9)


def test_an_nb201_cell_of_unreachable_nodes_reads_zeros() -> None:
    """A cell that outputs zeros emits no op; the ops after it read ZEROS."""
    space = Nb201Space(cells_per_stage=1)
    arch = Nb201Arch.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|")
    model = trained_like(space, arch, (3, 8, 8), 0)
    net = engine_net(model, (3, 8, 8))
    readers = [op for op in net.ops if ZEROS in op.inputs]
    kinds = {op.kind for op in readers}
    assert OpKind.CONV in kinds  # the reductions' convolutions and pools, the head's pool
    assert kinds <= {OpKind.CONV, OpKind.AVG_POOL, OpKind.GLOBAL_AVG_POOL}
    images = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    with torch.no_grad():
        expected = model.double()(torch.tensor(images)).numpy()
    np.testing.assert_allclose(run_float(net, images).reshape(2, -1), expected, atol=1e-9)


@pytest.mark.parametrize("bias", [True, False])
def test_folded_batchnorm_equals_unfolded_in_float(bias: bool) -> None:
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=bias), nn.BatchNorm2d(8), nn.ReLU())
    randomise_batchnorm(model, rng)
    model.eval()
    net = engine_net(model, (3, 9, 9))
    (op,) = net.ops
    assert op.batchnorm and op.bias is not None and op.post == (Relu(),)
    images = rng.normal(size=(4, 3, 9, 9))
    with torch.no_grad():
        expected = model.double()(torch.tensor(images)).numpy()
    np.testing.assert_allclose(run_float(net, images), expected, rtol=0, atol=1e-5)
    assert np.abs(expected).max() > 0.5  # a real comparison, not of zeros


def test_steps_go_where_they_can() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3, padding=1)
            self.left = nn.Conv2d(4, 4, 1)
            self.right = nn.Conv2d(4, 4, 3, padding=1, groups=4)
            self.bn = nn.BatchNorm2d(4)
            self.head_bn = nn.BatchNorm2d(8)
            self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=True)
            self.max = nn.MaxPool2d(3, 2, 1)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            stem = self.stem(x)  # read by two ReLUs: each is a pre step of the op after it
            total = self.left(F.relu(stem)) + self.right(torch.relu(stem))
            pooled = self.pool(self.bn(total))  # read once: a post step of the add
            joined = torch.cat([self.up(self.max(pooled)), pooled], dim=1)
            head = F.relu(self.head_bn(joined))  # the concat's result, read once: post steps
            return self.fc(torch.flatten(self.gap(head), 1))

    model = Model()
    randomise_batchnorm(model, np.random.default_rng(2))
    model.eval()
    net = engine_net(model, (1, 8, 8))
    kinds = [op.kind for op in net.ops]
    assert kinds == [OpKind.CONV, OpKind.CONV, OpKind.CONV, OpKind.ADD, OpKind.AVG_POOL,
                     OpKind.MAX_POOL, OpKind.UPSAMPLE, OpKind.CONCAT, OpKind.GLOBAL_AVG_POOL,
                     OpKind.FC]  # fmt: skip
    assert net.ops[1].pre == (Relu(),) and net.ops[2].pre == (Relu(),) and not net.ops[0].post
    assert isinstance(net.ops[3].post[0], Affine)
    assert isinstance(net.ops[7].post[0], Affine) and isinstance(net.ops[7].post[1], Relu)
    assert net.ops[2].groups == 4 and net.ops[4].count_include_pad
    images = np.random.default_rng(3).normal(size=(2, 1, 8, 8))
    with torch.no_grad():
        expected = model.double()(torch.tensor(images)).numpy()
    np.testing.assert_allclose(run_float(net, images).reshape(2, -1), expected, atol=1e-9)


@pytest.mark.parametrize(
    ("model", "named"),
    [
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softplus()), r"'1' \(Softplus\)"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), r"'0' \(Conv2d\).*dilation"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, stride=(2, 1))), r"'0' \(Conv2d\).*non-square"),
        (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), r"'0' \(MaxPool2d\).*ceil_mode"),
        (nn.Sequential(nn.AdaptiveAvgPool2d(2)), r"'0' \(AdaptiveAvgPool2d\)"),
        (nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear")), r"'0' \(Upsample\)"),
        (nn.Sequential(nn.Linear(8, 3)), r"'0' \(Linear\).*flattened"),
        (nn.Sequential(nn.Flatten(2), nn.Linear(64, 3)), r"'0' \(Flatten\)"),
    ],
)
def test_an_unmappable_module_is_named_in_one_error(model: nn.Module, named: str) -> None:
    with pytest.raises(InputError, match=f"cannot map {named}"):
        engine_net(model.eval(), (1, 8, 8))


def test_an_untraceable_model_is_one_error() -> None:
    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x  # control flow on a value: fx cannot trace it

    with pytest.raises(InputError, match="cannot trace Branchy"):
        engine_net(Branchy(), (1, 4, 4))


def test_the_model_is_left_as_it_was() -> None:
    space, (shape, _) = SPACES["chain"]
    model = build_model(space, space.sample(np.random.default_rng(0)), shape, 5)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine_net(model, shape)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
