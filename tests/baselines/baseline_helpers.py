"""Shared helpers of the baseline tests: strategies built from a config, a tiny NB201 table."""

import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "search"))  # tests/search/fake_training.py

from fake_training import fake_train, told

from coexplore import wiring as run
from coexplore.config import load_config
from coexplore.hardware.devices import Precision
from coexplore.search.strategy import StrategyContext
from coexplore.spaces.nb201 import Nb201Arch
from coexplore.tabular.accuracy import COLUMNS

BASE = {"run.trials": 16, "run.batch": 4, "spec.fps": 2000.0, "nsga2.population": 4}
CASES = {
    "coexplore": {"run.strategy": "coexplore", "coexplore.seed_children": 4},
    "rl-optimal": {"run.strategy": "rl"},
    "rl-controller": {
        "run.strategy": "rl",
        "fast.mode": "controller",
        "fast.hw_tries": 3,
        "spec.fps": 500.0,
    },
    "random": {"run.strategy": "random"},
    "nas": {"run.strategy": "nas"},
    "hwnas": {"run.strategy": "hwnas"},
    "hwnas_soft": {"run.strategy": "hwnas_soft"},
    "nsga2": {"run.strategy": "nsga2"},
    "motpe": {"run.strategy": "motpe"},
    "random_feasible": {"run.strategy": "random_feasible"},
    "exhaustive": {"run.strategy": "random"},  # replaced: the config cannot name it
}

__all__ = ["CASES", "fake_train", "make_setup", "strategy_context", "told", "write_table"]


def make_setup(case: str, seed: int = 0, **overrides):
    """The loop setup of a contract case on the quick preset (chain space, depth 4)."""
    config = load_config("quick", overrides={**BASE, **CASES[case], "run.seed": seed, **overrides})
    method = "exhaustive" if case == "exhaustive" else None  # the config cannot name it
    setup = dataclasses.replace(run.build_setup(config, strategy=method), train_fn=fake_train)
    return config, setup


def strategy_context(config, setup) -> StrategyContext:
    """The context the registry's builders take, for `config` and its loop setup."""
    shape, classes = run.dataset_shape(config)
    precision = Precision(config.hardware.precisions[0])
    pool = run.make_pool(config)
    return StrategyContext(
        run.check_config(config),
        setup.space,
        pool,
        setup.spec,
        precision,
        shape,
        classes,
        setup.explorer,
    )


def write_table(
    path: Path, indices, seed: int = 0, shuffle: bool = True, same: dict[int, str] | None = None
) -> dict[int, float]:
    """A tiny NATS-Bench-format CSV for `indices`; returns index -> accuracy (a fraction).
    Each cell's UniqueString is its own (a distinct network) unless `same` names it."""
    rng = np.random.default_rng(seed)
    rows = [int(i) for i in indices]
    if shuffle:
        rng.shuffle(rows)
    accuracy = {i: round(float(rng.uniform(10.0, 95.0)), 4) / 100.0 for i in rows}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS.values(), "ArchitectureString", "UniqueString"])
        for i in rows:
            pct = accuracy[i] * 100.0
            unique = (same or {}).get(i, f"cell{i}")
            writer.writerow([pct, pct / 2, pct / 3, Nb201Arch.from_index(i).to_string(), unique])
    return accuracy
