"""One registry per kind, from which the config's choices and the dispatch are derived: the
executors (`executors.kinds.EXECUTORS`) and the datasets (`datasets.DATASETS`), like
the spaces (tests/spaces/test_space_contract.py) and the strategies
(tests/baselines/test_strategy_names.py). An unknown name is refused naming the valid ones."""

import dataclasses

import pytest

from coexplore.config import ConfigError, DataConfig, load_config
from coexplore.datasets import DATASETS, folder_datasets
from coexplore.errors import UnknownName
from coexplore.executors import EXECUTORS, LocalExecutor, make_executor
from coexplore.problem import dataset_shape
from coexplore.wiring import check_config


def test_the_config_accepts_exactly_the_registered_executors_in_registry_order():
    for kind in EXECUTORS:
        check_config(load_config("quick", overrides={"executor.kind": kind}))
    refused = r"executor\.kind: 'spark' is not one of local, pool, ray"
    with pytest.raises(ConfigError, match=refused):
        check_config(load_config("quick", overrides={"executor.kind": "spark"}))


def test_the_config_accepts_exactly_the_registered_datasets_in_registry_order():
    refused = "data.dataset: 'svhn' is not one of " + ", ".join(DATASETS)
    with pytest.raises(ConfigError, match=refused):
        check_config(load_config("quick", overrides={"data.dataset": "svhn"}))
    assert tuple(DATASETS) == (
        "digits",
        "mnist5k",
        "cifar10",
        "imagenet_folder",
        "nuclei_folder",
        "nb201_table",
    )  # fmt: skip - the order the config's error message lists them in
    assert folder_datasets() == ("imagenet_folder", "nuclei_folder")


def _with(config, section: str, **values):
    """A config past validation with a value no config file could hold (a bypassed check)."""
    return dataclasses.replace(
        config, **{section: dataclasses.replace(getattr(config, section), **values)}
    )


def test_an_unknown_executor_kind_is_refused_naming_the_registered_ones():
    config = _with(load_config("quick"), "executor", kind="spark")
    with pytest.raises(
        UnknownName, match="unknown executor 'spark'; valid names: local, pool, ray"
    ):
        make_executor(config)


def test_each_registered_executor_is_built_from_its_entry():
    config = load_config("quick")
    assert isinstance(make_executor(config), LocalExecutor)
    assert EXECUTORS["local"].summary and EXECUTORS["pool"].summary
    with make_executor(_with(config, "executor", kind="pool", workers=1)) as pool:
        assert pool.name == "pool"  # the class's own name is its registry key


def test_an_unknown_dataset_is_refused_naming_the_registered_ones():
    from coexplore.slow.data import load_dataset
    from coexplore.slow.folders import load_folder

    valid = ", ".join(sorted(DATASETS))
    with pytest.raises(UnknownName, match=f"unknown dataset 'svhn'; valid names: {valid}"):
        load_dataset("svhn", seed=0)
    with pytest.raises(UnknownName, match="unknown dataset 'svhn'"):
        dataset_shape(_with(load_config("quick"), "data", dataset="svhn"))
    with pytest.raises(
        ValueError, match="unknown folder dataset 'digits'; valid: imagenet_folder, nuclei_folder"
    ):
        load_folder("digits", "/nowhere", 0, 0.2, 0.2, None, DataConfig())
    with pytest.raises(ValueError, match=r"nb201_table .* has no images to load"):
        load_dataset("nb201_table", seed=0)


def test_the_dataset_entries_say_how_to_get_each_shape_without_loading():
    config = load_config("quick")
    for name in ("digits", "mnist5k", "cifar10", "nb201_table"):
        shape = dataset_shape(_with(config, "data", dataset=name))
        assert shape == DATASETS[name].shape and len(shape[0]) == 3
    assert dataset_shape(_with(config, "data", dataset="mnist5k")) == ((1, 28, 28), 10)
    for name in folder_datasets():  # read from the folder: data.root is needed
        with pytest.raises(ConfigError, match=r"data\.root"):
            dataset_shape(_with(config, "data", dataset=name))
    assert [n for n, d in DATASETS.items() if d.table] == ["nb201_table"]
    assert all(d.loader for d in DATASETS.values() if not d.table)
