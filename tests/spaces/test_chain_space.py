from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.spaces import ChainArch, ChainLayer, ChainSpace, scheduled_depth
from coexplore.workload import LayerKind

KERNELS, FILTERS = (1, 3, 5, 7), (24, 36, 48, 64)


@st.composite
def chain_archs(draw: st.DrawFn, strides: tuple[int, ...] = (1, 2)) -> ChainArch:
    depth = draw(st.integers(1, 8))
    layer = st.builds(
        ChainLayer, st.sampled_from(KERNELS), st.sampled_from(FILTERS), st.sampled_from(strides)
    )
    return ChainArch(tuple(draw(st.lists(layer, min_size=depth, max_size=depth))))


def test_token_layout_per_stride_setting() -> None:
    fixed, predictable = ChainSpace(depth=6), ChainSpace(depth=6, stride_mode="predictable")
    assert [t.kind for t in fixed.token_types()[:2]] == ["kernel", "filters"]
    assert len(fixed.token_types()) == 12
    assert [t.kind for t in predictable.token_types()[:3]] == ["kernel", "filters", "stride"]
    assert len(predictable.token_types()) == 18
    assert fixed.size() == 16**6
    assert predictable.size() == 32**6


def test_fixed_setting_samples_only_stride_one() -> None:
    rng = np.random.default_rng(0)
    archs = [ChainSpace(depth=5).sample(rng) for _ in range(50)]
    assert {layer.stride for arch in archs for layer in arch.layers} == {1}


@settings(max_examples=80, deadline=None)
@given(arch=chain_archs(), shape=st.sampled_from([(3, 32, 32), (1, 28, 28), (1, 8, 8), (3, 7, 5)]))
def test_workload_shapes_follow_same_padding(arch: ChainArch, shape: tuple[int, int, int]) -> None:
    workload = ChainSpace(depth=arch.depth).workload(arch, shape, 10)
    convs, fc = workload.layers[:-1], workload.layers[-1]
    channels, rows, cols = shape
    for conv, choice in zip(convs, arch.layers, strict=True):
        assert conv.kind is LayerKind.CONV and conv.bias and conv.batchnorm
        assert (conv.in_channels, conv.out_channels) == (channels, choice.filters)
        assert (conv.kernel, conv.stride) == (choice.kernel, choice.stride)
        assert (conv.input_rows, conv.input_cols) == (rows, cols)
        rows, cols = math.ceil(rows / choice.stride), math.ceil(cols / choice.stride)
        assert (conv.out_rows, conv.out_cols) == (rows, cols)
        channels = choice.filters
    assert fc.kind is LayerKind.FC and fc.bias
    assert (fc.in_channels, fc.out_channels) == (channels * rows * cols, 10)
    assert workload.skips == () and workload.input_shape == shape


def test_workload_params_of_a_known_chain() -> None:
    arch = ChainArch((ChainLayer(3, 24, 1), ChainLayer(5, 36, 2)))
    workload = ChainSpace(depth=2, stride_mode="predictable").workload(arch, (3, 32, 32), 10)
    conv0 = 3 * 24 * 9 + 24 + 2 * 24
    conv1 = 24 * 36 * 25 + 36 + 2 * 36
    fc = 36 * 16 * 16 * 10 + 10
    assert workload.params == conv0 + conv1 + fc
    assert workload.macs == 24 * 3 * 9 * 32 * 32 + 36 * 24 * 25 * 16 * 16 + 36 * 16 * 16 * 10


def test_key_is_canonical_and_readable() -> None:
    arch = ChainArch((ChainLayer(3, 24, 1), ChainLayer(7, 64, 2)))
    assert arch.key == "chain:k3f24s1-k7f64s2"
    assert arch.digest != ChainArch((ChainLayer(7, 64, 2), ChainLayer(3, 24, 1))).digest


GOOD = {"kernel": 3, "filters": 24}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"layers": "k3"}, "layers"),
        ({}, "layers"),
        ({"layers": [GOOD]}, "layers: expected 2"),
        ({"layers": [GOOD, {"kernel": 4, "filters": 24}]}, r"layers\[1\].kernel"),
        ({"layers": [GOOD, {"filters": 24}]}, r"layers\[1\].kernel"),
        ({"layers": [{"kernel": 3, "filters": "24"}, GOOD]}, r"layers\[0\].filters"),
        ({"layers": [{**GOOD, "stride": 2}, GOOD]}, r"layers\[0\].stride"),
        ({"layers": [7, GOOD]}, r"layers\[0\]"),
        ({"layers": [{"kernel": True, "filters": 24}, GOOD]}, r"layers\[0\].kernel"),
    ],
)
def test_from_json_names_the_bad_field(data: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ChainSpace(depth=2).from_json(data)


def test_stride_may_be_omitted_in_the_fixed_setting() -> None:
    arch = ChainSpace(depth=1).from_json({"layers": [{"kernel": 5, "filters": 48}]})
    assert arch == ChainArch((ChainLayer(5, 48, 1),))


@pytest.mark.parametrize(
    "kwargs", [{"depth": 0}, {"stride_mode": "random"}, {"kernels": (2, 3)}, {"filters": ()}]
)
def test_invalid_space_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ChainSpace(**kwargs)


def test_depth_schedule_starts_at_six_and_grows_by_two() -> None:
    depths = [scheduled_depth(n, every_samples=100) for n in (0, 99, 100, 250, 10_000)]
    assert depths == [6, 6, 8, 10, 14]
    assert scheduled_depth(50, every_samples=10, start_depth=2, step=1, max_depth=4) == 4
    with pytest.raises(ValueError):
        scheduled_depth(0, every_samples=0)


@settings(max_examples=50, deadline=None)
@given(samples=st.integers(0, 10_000), every=st.integers(1, 500))
def test_depth_schedule_is_monotone_and_capped(samples: int, every: int) -> None:
    now = scheduled_depth(samples, every_samples=every)
    later = scheduled_depth(samples + every, every_samples=every)
    assert 6 <= now <= later <= 14
    assert later - now in (0, 2)
