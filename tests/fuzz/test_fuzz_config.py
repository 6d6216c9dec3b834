"""Fuzzing the config loader: any dict, TOML text, file or override gives a valid Config or a
one-line ConfigError, and a valid Config survives the round trip through the run folder's TOML."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coexplore.config import Config, ConfigError, load_config, parse_config, to_dict, to_toml
from coexplore.search.strategies import sections
from coexplore.wiring import check_config

SECTIONS = {
    f.name: {k: h for k, h in typing.get_type_hints(hint).items() if k != "SECTION"}
    for f in dataclasses.fields(Config)
    if f.name != "components" and (hint := typing.get_type_hints(Config)[f.name])
}
COMPONENTS = {  # the sections a strategy owns, fuzzed alike
    name: {k: h for k, h in typing.get_type_hints(cls).items() if k != "SECTION"}
    for name, cls in sections().items()
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-3, 3)
    | st.floats()
    | st.floats(0, 1)
    | st.text(max_size=12)
    | st.sampled_from(["fps", "chain", "digits", "pool", "ray", "adam", "optimal", "nb201"])
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=4)


@st.composite
def raw_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly real sections and keys (so values get checked), some junk."""
    raw: dict[str, Any] = {}
    names = st.sampled_from([*SECTIONS, *COMPONENTS]) | st.text(max_size=6)
    for name in draw(st.lists(names, max_size=4)):
        keys = st.sampled_from(list({**SECTIONS, **COMPONENTS}.get(name) or ["x"]))
        keys |= st.text(max_size=6)
        raw[name] = draw(st.dictionaries(keys, values, max_size=4) | values)
    return raw


def check(make: typing.Callable[[], Config]) -> Config | None:
    """A valid Config (every field of its declared type), checked where a run is wired (the
    registries' names, the sections a strategy owns), or a one-line ConfigError."""
    try:
        config = check_config(make())
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc), exc
        return None
    for name, hints in SECTIONS.items():
        for key, hint in hints.items():
            value = getattr(getattr(config, name), key)
            assert isinstance(value, typing.get_origin(hint) or hint), (name, key, value)
            assert type(value) is not bool or hint is bool, (name, key, value)
    return config


@settings(max_examples=400, deadline=None)
@given(raw_configs())
def test_any_dict_gives_a_config_or_a_one_line_error(raw: dict[str, Any]):
    config = check(lambda: parse_config(raw))
    if config is not None:  # the run database and the run folder's file give it back
        assert check_config(parse_config(to_dict(config))) == config
        assert check_config(parse_config(tomllib.loads(to_toml(config)))) == config


FREE_TEXT = ["data.root", "hardware.pool", "hardware.devices_file", "executor.address"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FREE_TEXT), st.text())
def test_any_free_text_survives_the_run_folders_toml(dotted: str, text: str):
    section, key = dotted.split(".")
    config = parse_config({section: {key: text}, "spec": {"fps": 100.0}})
    assert parse_config(tomllib.loads(to_toml(config))) == config


toml_text = st.text(max_size=80) | st.builds(
    lambda section, key, value: f"[{section}]\n{key} = {value}\n",
    st.sampled_from([*SECTIONS, "nope"]),
    st.sampled_from(["trials", "seed", "kind", "lr", "alpha", "acc_bounds", "x"])
    | st.text(max_size=5),
    st.sampled_from(["1", "-1", "0.5", "nan", "inf", '"a"', "[1, 2]", "true", "{a = 1}", ""])
    | st.text(max_size=5),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=toml_text.map(str.encode) | st.binary(max_size=40))
def test_any_config_file_gives_a_config_or_a_one_line_error(tmp_path: Path, content: bytes):
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    check(lambda: load_config(path=path))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=14)
        | st.sampled_from(
            [f"{s}.{k}" for s, hints in {**SECTIONS, **COMPONENTS}.items() for k in hints]
        ),
        values,
        max_size=3,
    ),
    st.sampled_from([None, "quick", "default", "nope"]),
)
def test_any_overrides_give_a_config_or_a_one_line_error(overrides: dict[str, Any], preset: Any):
    check(lambda: load_config(preset, overrides=overrides))


def test_a_folder_or_undecodable_file_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[run]\n")
    for path in (tmp_path, tmp_path / "bin.toml"):
        assert check(lambda p=path: load_config(path=p)) is None


def test_an_override_into_a_key_that_is_not_a_table_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "c.toml").write_text("run = 3\n")
    assert check(lambda: load_config(path=tmp_path / "c.toml", overrides={"run.seed": 1})) is None
