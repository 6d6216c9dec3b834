"""Fuzzing the architecture-file loader: any JSON gives an ArchFile whose workload the fast
explorer can take, or a one-line ValueError naming the file."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.archfile import ArchFile, load_arch_file, parse_arch
from coexplore.spaces import SPACES
from coexplore.workload import Layer

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-2, 9)
    | st.floats()
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def valid_arch_files(draw: st.DrawFn) -> dict[str, Any]:
    """A sampled architecture of a real space, as its file holds it."""
    space = SPACES[draw(st.sampled_from(sorted(SPACES)))]()
    arch = space.sample(np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    shape = draw(st.sampled_from([[3, 32, 32], [1, 32, 32], [3, 64, 64]]))  # fits every space
    return {**space.to_json(arch), "input_shape": shape, "num_classes": 10}


@st.composite
def raw_workloads(draw: st.DrawFn) -> dict[str, Any]:
    """A layer list for no search space: convs and pools of plausible sizes."""
    dims = st.integers(1, 64)
    layers = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["conv", "pool", "dwconv"]),
                    "in_channels": dims,
                    "out_channels": dims,
                    "out_rows": dims,
                    "out_cols": dims,
                },
                optional={
                    "kernel": st.integers(1, 7),
                    "stride": st.integers(1, 3),
                    "bias": st.booleans(),
                    "batchnorm": st.booleans(),
                    "name": st.text(max_size=4),
                },
            ),
            min_size=2,
            max_size=4,
        )
    )
    for layer in layers:  # depthwise layers keep their channel count
        if layer["kind"] == "dwconv":
            layer["out_channels"] = layer["in_channels"]
    return {"input_shape": [3, 32, 32], "layers": layers, "skips": [[0, len(layers) - 1]]}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, the root excluded."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    return [p for key, child in children for p in [(*prefix, key), *paths(child, (*prefix, key))]]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid file with a few values replaced by random JSON or removed."""
    data = copy.deepcopy(draw(base))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(paths(data) or [("space",)]))
        parent = data
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(where[-1], None)
        else:
            parent[where[-1]] = draw(edge_values)
    return data


edge_values = st.sampled_from([0, -1, 1, 2, 10**6, 10**30, 0.5, True, None, "", "x", [], {}])
edge_values = edge_values | json_values
arch_files = mutated(valid_arch_files() | raw_workloads())


def check(data: Any, text: str | None = None) -> ArchFile | None:
    """An ArchFile with a sane workload, or a one-line ValueError naming the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "arch.json"
        path.write_text(json.dumps(data) if text is None else text)
        try:
            arch = load_arch_file(path)
        except ValueError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc), exc
            return None
    workload = arch.workload
    assert workload.layers and all(isinstance(x, Layer) for x in workload.layers)
    assert all(math.isfinite(x.macs) and x.macs >= 0 for x in workload.layers)
    for layer in workload.layers:  # the types the hardware model counts with
        assert isinstance(layer.bias, bool) and isinstance(layer.batchnorm, bool), layer
        assert isinstance(layer.name, str), layer
    assert all(type(i) is int for skip in workload.skips for i in skip), workload.skips
    return arch


@settings(max_examples=100, deadline=None)
@given(valid_arch_files() | raw_workloads())
def test_every_sampled_architecture_loads(data: dict[str, Any]):
    assert check(data) is not None


@settings(max_examples=500, deadline=None)
@given(arch_files)
def test_any_architecture_json_gives_an_arch_file_or_a_one_line_error(data: dict[str, Any]):
    check(data)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_gives_an_arch_file_or_a_one_line_error(data: Any):
    check(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_any_text_gives_an_arch_file_or_a_one_line_error(text: str):
    check(None, text)


@settings(max_examples=200, deadline=None)
@given(arch_files)
def test_parse_arch_raises_only_what_the_file_loader_reports(data: dict[str, Any]):
    with contextlib.suppress(ValueError, KeyError, TypeError):  # anything else fails the test
        parse_arch(data)


def test_a_layer_name_with_a_newline_keeps_the_error_on_one_line():
    # Found by the property above: the name was put into the message as it was.
    from coexplore.errors import InputError
    from coexplore.workload import Layer, LayerKind

    with pytest.raises(InputError) as caught:
        Layer(LayerKind.CONV, 0, 1, 1, 1, name="bad\nname")
    assert "\n" not in str(caught.value) and "in_channels" in str(caught.value)
