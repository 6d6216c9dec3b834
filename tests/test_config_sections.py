"""One config class per concern, read by its user as it is: the [train] section is the
trainer's `TrainConfig`, a worker's job carries the [data] section itself, and a strategy's
section ([controller], [coexplore], ...) is declared next to the strategy. No other class
repeats a section field by field; the file format and `to_dict` stay what stored run databases
compare against (golden values below)."""

import dataclasses
import importlib
import pkgutil

import pytest

import coexplore
from coexplore.config import (
    Config,
    ConfigError,
    DataConfig,
    Section,
    TrainConfig,
    load_config,
    to_dict,
)
from coexplore.search.strategies import sections
from coexplore.search.strategies.controller import ControllerSettings
from coexplore.wiring import check_config

TRAIN_SECTION = {"epochs": 4, "batch_size": 64, "optimizer": "adam", "lr": 0.003,
                 "momentum": 0.9, "weight_decay": 0.0001, "lr_schedule": "cosine",
                 "augment": False, "channels_last": False, "bf16": False, "threads": 1,
                 "device": "auto", "max_loss": 100.0}  # fmt: skip
CONTROLLER_SECTION = {"hidden": 35, "embedding": 20, "lr": 0.0035, "entropy": 0.0001,
                      "baseline_decay": 0.9}  # fmt: skip


def test_the_sections_are_the_classes_their_users_read():
    config = Config()
    assert type(config.train) is TrainConfig and config.train == TrainConfig()
    assert sections()["controller"] is ControllerSettings
    from coexplore.slow.jobs import TrainJob

    hints = {f.name: f.type for f in dataclasses.fields(TrainJob)}
    assert hints["data"] in (DataConfig, "DataConfig") and hints["train"] in (
        TrainConfig,
        "TrainConfig",
    )


def test_to_dict_of_the_defaults_is_unchanged():
    raw = to_dict(check_config(Config()))
    assert list(raw["train"].items()) == list(TRAIN_SECTION.items())
    assert list(raw["controller"].items()) == list(CONTROLLER_SECTION.items())


def test_a_value_the_trainer_refuses_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"train\.momentum: must be < 1"):
        load_config("quick", overrides={"train.momentum": 1.5})
    with pytest.raises(ConfigError, match=r"controller\.hidden: must be > 0"):
        check_config(load_config("quick", overrides={"controller.hidden": 0}))


def _all_dataclasses() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(coexplore.__path__, "coexplore."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            is_class = isinstance(value, type) and dataclasses.is_dataclass(value)
            if is_class and value.__module__ == module.__name__:
                found.append(value)
    return found


# The problem's own values, built from a section but with meanings of their own: a `Spec` says
# "no bound" with None (0 in the config), and `estimate` builds one with no config at all.
# A `Reward` is [reward] with hw_bounds resolved ((0, 0) in the config: spec .. 4x spec).
NOT_COPIES = {"coexplore.hardware.devices.Spec", "coexplore.search.reward.Reward"}


def test_no_class_repeats_a_config_section_field_by_field():
    """A copy of a section (a worker's DataSpec, a strategy's own settings class) drifts from
    it; the components read their section itself."""
    classes = [c for c in _all_dataclasses() if f"{c.__module__}.{c.__name__}" not in NOT_COPIES]
    section_classes = [c for c in classes if issubclass(c, Section)]
    assert {"run", "train", "coexplore", "controller", "nsga2", "hwnas"} <= {
        c.SECTION for c in section_classes
    }
    for section in section_classes:
        keys = {f.name for f in dataclasses.fields(section)}
        for other in classes:
            if other is section or issubclass(other, Section) or other is Config:
                continue
            fields = {f.name for f in dataclasses.fields(other)}
            shared = fields & keys  # a copy: mostly the section's keys, three at least
            assert len(shared) < 3 or 3 * len(shared) < 2 * len(fields), (
                f"{other.__module__}.{other.__name__} repeats [{section.SECTION}]: {shared}"
            )
