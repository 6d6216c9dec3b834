"""One config class per concern: the [train] section is the trainer's `TrainConfig` and the
[controller] section the controller's settings, so their defaults cannot drift apart; the file
format and `to_dict` stay what stored run databases compare against (golden values below)."""

import pytest

from coexplore.config import Config, ConfigError, ControllerConfig, load_config, to_dict
from coexplore.slow.train_config import TrainConfig

TRAIN_SECTION = {"epochs": 4, "batch_size": 64, "optimizer": "adam", "lr": 0.003,
                 "momentum": 0.9, "weight_decay": 0.0001, "lr_schedule": "cosine",
                 "augment": False, "channels_last": False, "bf16": False, "threads": 1,
                 "device": "auto", "max_loss": 100.0}  # fmt: skip
CONTROLLER_SECTION = {"hidden": 35, "embedding": 20, "lr": 0.0035, "entropy": 0.0001,
                      "baseline_decay": 0.9}  # fmt: skip


def test_the_sections_are_the_classes_their_users_read():
    config = Config()
    assert type(config.train) is TrainConfig and config.train == TrainConfig()
    assert type(config.controller) is ControllerConfig


def test_to_dict_of_the_defaults_is_unchanged():
    raw = to_dict(Config())
    assert list(raw["train"].items()) == list(TRAIN_SECTION.items())
    assert list(raw["controller"].items()) == list(CONTROLLER_SECTION.items())


def test_a_value_the_trainer_refuses_is_a_config_error_naming_the_section():
    with pytest.raises(ConfigError, match=r"\[train\].*momentum"):
        load_config("quick", overrides={"train.momentum": 1.5})


def test_the_data_a_worker_loads_is_the_data_section_with_the_run_seed():
    import dataclasses

    from coexplore.config import DataConfig
    from coexplore.search.jobs import DataSpec
    from coexplore.slow.folders import FolderOptions

    section = {f.name for f in dataclasses.fields(DataConfig)}
    spec = {f.name for f in dataclasses.fields(DataSpec)}
    assert spec == section - {"accuracy_column"} | {"seed"}  # the table's column: no worker's
    config = load_config("quick", overrides={"data.limit": 120, "data.resolution": 24})
    made = DataSpec.of(config.data, seed=5)
    assert made.seed == 5
    assert all(getattr(made, k) == getattr(config.data, k) for k in spec - {"seed"})
    folder = {f.name: f.default for f in dataclasses.fields(FolderOptions)}
    defaults = {f.name: f.default for f in dataclasses.fields(DataConfig)}
    assert folder == {k: defaults[k] for k in folder}  # same keys, same defaults
    assert FolderOptions.of(made) == FolderOptions.of(config.data) == FolderOptions(24, 0, 0)
