"""The contract every search space must pass (in the spirit of Optuna's sampler test suites),
run on every space of the SPACES registry: a new space adds its examples to EXAMPLES (a test
below fails until it does) and passes the whole suite; its own tests keep only what is its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.spaces import SPACES, ChainSpace, ImagenetSpace, Nb201Space, SearchSpace, UnetSpace
from coexplore.spaces.precision import PrecisionSpace

# Space name -> instances the contract runs on (the default one and some other settings).
EXAMPLES: dict[str, list[SearchSpace]] = {
    "chain": [
        ChainSpace(depth=3),
        ChainSpace(depth=4, stride_mode="predictable"),
        ChainSpace(depth=1, kernels=(3,), filters=(8, 16)),
    ],
    "nb201": [Nb201Space()],
    "imagenet": [
        ImagenetSpace(),
        ImagenetSpace(depth=6, ops=("conv",)),
        ImagenetSpace(depth=7, stage_filters=((4, 6), (6, 8), (8, 12), (12, 16), (16, 24))),
        ImagenetSpace(depth=6, se_choices=(False, True), activations=("relu", "hswish")),
        ImagenetSpace(depth=5, ops=("sep",), se_choices=(True,), activations=("hswish",)),
    ],
    "unet": [UnetSpace(), UnetSpace(levels=2, convs=1), UnetSpace(levels=1)],
}
# A run searching several precisions searches its space at each (spaces.precision): the
# wrapper keeps the whole contract.
AT_PRECISIONS = [
    PrecisionSpace(ChainSpace(depth=3, stride_mode="predictable"), ("fixed16", "fixed8")),
    PrecisionSpace(Nb201Space(), ("fixed8", "fixed16", "fp32")),
]
SPACE_CASES = [space for name in SPACES for space in EXAMPLES.get(name, [])] + AT_PRECISIONS
ids = [repr(space) for space in SPACE_CASES]
space_params = pytest.mark.parametrize("space", SPACE_CASES, ids=ids)


def indices_strategy(space: SearchSpace) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(st.integers(0, len(t.choices) - 1) for t in space.token_types()))


@space_params
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_encode_decode_round_trip(space: SearchSpace, data: st.DataObject) -> None:
    indices = data.draw(indices_strategy(space))
    arch = space.decode(indices)
    assert space.encode(arch) == indices
    assert space.decode(space.encode(arch)) == arch


@space_params
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_structure_features_have_one_length_and_are_finite(
    space: SearchSpace, data: st.DataObject
) -> None:
    first = space.structure_features(space.decode(data.draw(indices_strategy(space))))
    other = space.structure_features(space.decode(data.draw(indices_strategy(space))))
    assert len(first) == len(other)
    assert all(np.isfinite(v) for v in (*first, *other))


@space_params
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_json_round_trip_through_text(space: SearchSpace, data: st.DataObject) -> None:
    arch = space.decode(data.draw(indices_strategy(space)))
    text = json.dumps(space.to_json(arch))
    again = space.from_json(json.loads(text))
    assert again == arch
    assert again.key == arch.key and again.digest == arch.digest


@space_params
def test_token_types_are_fixed_named_and_kinded(space: SearchSpace) -> None:
    tokens = space.token_types()
    assert tokens == space.token_types()
    assert len({t.name for t in tokens}) == len(tokens)
    for kind in {t.kind for t in tokens}:
        # One head per kind only works if every position of a kind offers the same choices.
        assert len({t.choices for t in tokens if t.kind == kind}) == 1


@space_params
def test_sampling_is_seeded_and_leaves_the_space_alone(space: SearchSpace) -> None:
    before = repr(space)
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    again = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == again
    assert repr(space) == before
    for arch in first:
        assert len(space.encode(arch)) == len(space.token_types())


@space_params
def test_mutate_changes_exactly_one_token(space: SearchSpace) -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        changed = [a != b for a, b in zip(space.encode(arch), space.encode(child), strict=True)]
        assert sum(changed) == 1


@space_params
def test_neighbours_are_all_single_token_changes(space: SearchSpace) -> None:
    arch = space.sample(np.random.default_rng(5))
    neighbours = space.neighbours(arch)
    expected = sum(len(t.choices) - 1 for t in space.token_types())
    assert len(neighbours) == expected
    assert len({n.key for n in neighbours}) == expected
    assert arch not in neighbours
    for other in neighbours:
        diff = [a != b for a, b in zip(space.encode(arch), space.encode(other), strict=True)]
        assert sum(diff) == 1


def hardware_view(space: SearchSpace, arch: object) -> tuple[object, ...]:
    """All of a workload the hardware model reads, and the parameters to train."""
    shape = {"imagenet": (3, 32, 32), "unet": (1, 16, 16)}.get(space.name, (3, 16, 16))
    workload = space.workload(arch, shape, 5)
    return tuple(la.shape_key() for la in workload.layers), workload.skips, workload.params


@space_params
def test_one_computation_key_is_one_workload(space: SearchSpace) -> None:
    """Architectures with one computation key are one network: one workload, one cost; with
    the default key (each architecture its own network) no two neighbours share a workload."""
    own = type(space).computation_key is SearchSpace.computation_key
    rng = np.random.default_rng(13)
    for _ in range(4):
        arch = space.sample(rng)
        key, view = space.computation_key(arch), hardware_view(space, arch)
        assert isinstance(key, str) and key
        for other in space.neighbours(arch):
            if space.computation_key(other) == key:
                assert hardware_view(space, other) == view
            elif own:
                assert hardware_view(space, other) != view


@space_params
def test_size_counts_every_token_combination(space: SearchSpace) -> None:
    expected = 1
    for token in space.token_types():
        expected *= len(token.choices)
    assert space.size() == expected


@space_params
def test_digest_is_short_stable_hex(space: SearchSpace) -> None:
    arch = space.sample(np.random.default_rng(11))
    assert re.fullmatch(r"[0-9a-f]{12}", arch.digest)
    assert space.decode(space.encode(arch)).digest == arch.digest


@space_params
def test_decode_rejects_bad_indices(space: SearchSpace) -> None:
    tokens = space.token_types()
    with pytest.raises(ValueError):
        space.decode((0,) * (len(tokens) + 1))
    with pytest.raises(ValueError, match=re.escape(tokens[-1].name)):
        space.decode((0,) * (len(tokens) - 1) + (len(tokens[-1].choices),))


@space_params
def test_from_json_rejects_another_space(space: SearchSpace) -> None:
    data = space.to_json(space.sample(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="space"):
        space.from_json({**data, "space": "not-" + space.name})


def test_every_registered_space_runs_the_contract() -> None:
    assert set(EXAMPLES) == set(SPACES)
    for name, spaces in EXAMPLES.items():
        assert spaces and all(type(space) is SPACES[name] for space in spaces), name


@pytest.mark.parametrize("name", list(SPACES))
def test_an_architecture_file_finds_its_space(name: str) -> None:
    from coexplore.archfile import space_for

    space = EXAMPLES[name][0]  # default choices: an architecture file names no choice lists
    arch = space.sample(np.random.default_rng(4))
    data = json.loads(json.dumps(space.to_json(arch)))
    found = space_for(data)
    assert found.name == name and found.from_json(data) == arch


def test_every_space_has_a_model_builder_derived_from_the_registry() -> None:
    code = "from coexplore.slow.builders import BUILDERS; print(*BUILDERS)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # torch side in a process of its own
    assert result.stdout.split() == list(SPACES)


def test_registry_builds_spaces_and_lists_names_on_typo() -> None:
    assert isinstance(SPACES["chain"](depth=10), ChainSpace)
    assert isinstance(SPACES["nb201"](), Nb201Space)
    with pytest.raises(KeyError, match=r"valid names: .*chain.*nb201"):
        SPACES["chian"]


@pytest.mark.parametrize(
    ("name", "settings", "built"),
    [
        ("chain", {"layers": 3, "stride_mode": "predictable"}, {"depth": 3}),
        ("nb201", {}, {}),
        ("imagenet", {"layers": 8}, {"depth": 8}),
        ("unet", {"levels": 3}, {"levels": 3}),
    ],
)
def test_the_config_names_a_registered_space_with_the_settings_it_reads(
    name: str, settings: dict, built: dict
) -> None:
    """The [space] keys a space reads (`SearchSpace.settings`) reach it; a key it does not
    read is refused where the run is wired, naming the space's own keys."""
    import dataclasses

    from coexplore.config import ConfigError, SpaceConfig, parse_config
    from coexplore.problem import make_space
    from coexplore.wiring import check_config

    fields = {f.name for f in dataclasses.fields(SpaceConfig)}
    assert set(SPACES[name].settings) <= fields - {"name"}
    base = {"spec": {"fps": 100.0}}
    config = check_config(parse_config({**base, "space": {"name": name, **settings}}))
    space = make_space(config)
    assert type(space) is SPACES[name] and space.name == name
    assert all(getattr(space, k) == v for k, v in built.items())
    unread = sorted(fields - {"name", *SPACES[name].settings})[0]
    value = 3 if unread != "stride_mode" else "predictable"
    with pytest.raises(ConfigError, match=f"space.{unread} is not a setting of the {name}"):
        check_config(parse_config({**base, "space": {"name": name, **settings, unread: value}}))


def test_spaces_never_import_torch() -> None:
    code = "import sys, coexplore.spaces; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
