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


def test_the_reference_and_the_search_page_name_every_registered_dataset():
    """Each registry-named key lists its names, generated; docs/search.md describes every
    dataset (it listed three of six once)."""
    from coexplore.commands.config_reference import registered
    from coexplore.datasets import DATASETS

    text = render()
    for kind, key in [("dataset", "data.dataset"), ("space", "space.name"),
                      ("strategy", "run.strategy"), ("executor", "executor.kind")]:  # fmt: skip
        row = next(line for line in text.splitlines() if line.startswith(f"| `{key}`"))
        assert all(name in row for name in registered(kind)), (key, row)
    search = (PAGE.parent / "search.md").read_text()
    assert all(f"| `{name}` |" in search for name in DATASETS), "describe it in docs/search.md"
