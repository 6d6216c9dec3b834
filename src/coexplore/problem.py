"""The problem a config describes, as objects: the search space, the device pool, the spec and
the input of the dataset. Torch-free; the tabular benchmark and the report build them here as
the search does (`coexplore.wiring`), so each is built from the config in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coexplore.config import Config, ConfigError
from coexplore.datasets import DATASETS
from coexplore.hardware.devices import Pool, Spec, load_catalog, parse_pool
from coexplore.spaces import SPACES, SearchSpace
from coexplore.spaces.precision import PrecisionSpace


def dataset_shape(config: Config) -> tuple[tuple[int, int, int], int]:
    """(input shape, number of classes) of the configured dataset, without loading it (a folder
    dataset's are read from its folder), from the one registry of datasets."""
    return DATASETS[config.data.dataset].shape_of(config.data)


def make_space(config: Config) -> SearchSpace[Any]:
    """The configured space, from the one registry of spaces (`coexplore.spaces.SPACES`); with
    several `hardware.precisions`, its architectures at each (`spaces.precision`)."""
    space = SPACES[config.space.name].from_settings(config.space)
    precisions = config.hardware.precisions
    return PrecisionSpace(space, precisions) if len(precisions) > 1 else space


def make_pool(config: Config) -> Pool:
    extra = Path(config.hardware.devices_file) if config.hardware.devices_file else None
    if extra is not None and not extra.is_file():
        raise ConfigError(f"config: hardware.devices_file: {extra}: no such file")
    hw = config.hardware
    return parse_pool(
        hw.pool, hw.link_gbps, load_catalog(extra), fill=hw.fill, clock_mhz=hw.clock_mhz
    )


def make_spec(config: Config) -> Spec:
    """The spec; 0 in the config means no bound on latency or on the number of FPGAs."""
    spec = config.spec
    return Spec(spec.fps, spec.latency_ms or None, spec.max_fpgas or None)
