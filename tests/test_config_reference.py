"""docs/config-reference.md is generated from the config's declarations: it must be what the
generator writes today (regenerate: python -m coexplore.commands.config_reference >
docs/config-reference.md), and it names every key a config may set."""

import dataclasses
from pathlib import Path

from coexplore.commands.config_reference import render
from coexplore.config import CORE_SECTIONS, Config
from coexplore.search.strategies import sections

PAGE = Path(__file__).parents[1] / "docs" / "config-reference.md"


def test_the_config_reference_is_up_to_date():
    assert PAGE.read_text() == render(), "stale: regenerate docs/config-reference.md"


def test_the_reference_names_every_key():
    text = render()
    config = Config()
    for name in CORE_SECTIONS:
        for f in dataclasses.fields(getattr(config, name)):
            assert f"`{name}.{f.name}`" in text
            assert f.metadata.get("meaning"), f"{name}.{f.name} has no meaning declared"
    for name, cls in sections().items():
        for f in dataclasses.fields(cls):
            assert f"`{name}.{f.name}`" in text and f.metadata.get("meaning")
