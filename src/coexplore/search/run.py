"""A run from a config: build everything, run the loop with a progress bar, write the outputs.

Run folder: run.db (every trial, checkpoints), config.toml (resolved), picks.json (OptSW and
OptHW), pareto.png (accuracy vs FPS and vs GOPS/W), trials.csv.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.config import Config, parse_config, to_dict, to_toml
from coexplore.fast.controller_mode import hardware_tokens, judge_tokens
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Pool, Precision, Spec, load_catalog, parse_pool
from coexplore.search.controller import ControllerSettings
from coexplore.search.executors import Executor, make_executor
from coexplore.search.fidelity import Fidelity
from coexplore.search.jobs import DataSpec, TrainJob, run_train_job
from coexplore.search.loop import SearchSetup, run_search
from coexplore.search.reward import Reward, default_hw_bounds
from coexplore.search.strategy import ControllerStrategy, RandomStrategy, Strategy
from coexplore.slow.trainer import TrainConfig
from coexplore.spaces import ChainSpace, ImagenetSpace, Nb201Space, SearchSpace, UnetSpace
from coexplore.storage import RunStorage

DATASET_SHAPES = {
    "digits": ((1, 8, 8), 10),
    "mnist5k": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "nb201_table": ((3, 32, 32), 10),
}


def dataset_shape(config: Config) -> tuple[tuple[int, int, int], int]:
    """(input shape, number of classes) of the configured dataset, without loading it."""
    if config.data.dataset in DATASET_SHAPES:
        return DATASET_SHAPES[config.data.dataset]
    from coexplore.slow.folders import folder_shape  # folder datasets: read from the folder

    return folder_shape(config.data)


DB_NAME = "run.db"


def build_setup(
    config: Config, extra_strategies: dict[str, Callable[..., Strategy]] | None = None
) -> SearchSetup:
    """Everything the loop needs, from a validated config."""
    space = make_space(config)
    shape, classes = dataset_shape(config)
    pool = make_pool(config)
    spec = Spec(config.spec.fps, config.spec.latency_ms or None, config.spec.max_fpgas or None)
    precision = Precision(config.hardware.precision)
    hw_bounds = config.reward.hw_bounds
    if hw_bounds == (0.0, 0.0):
        hw_bounds = default_hw_bounds(config.reward.metric, config.spec.fps)
    strategy = make_strategy(config, space, pool, spec, precision, shape, classes)
    return SearchSetup(
        space=space,
        strategy=strategy,
        explorer=strategy.explorer or OptimalExplorer(pool, spec, precision),
        spec=spec,
        reward=Reward(
            config.reward.alpha, config.reward.metric, config.reward.acc_bounds, hw_bounds
        ),
        data=DataSpec(
            config.data.dataset,
            config.data.root,
            config.run.seed,
            config.data.val_fraction,
            config.data.test_fraction,
            config.data.limit,
            config.data.resolution,
            config.data.max_classes,
            config.data.max_per_class,
        ),
        train=TrainConfig(**to_dict(config)["train"]),
        workload=lambda arch: space.workload(arch, shape, classes),
        trials=config.run.trials,
        batch=config.run.batch,
        seed=config.run.seed,
        train_fn=_train_fn(config),
        multi_fidelity=Fidelity.halving(
            config.train.epochs, config.fidelity.min_epochs, config.fidelity.eta
        ),
    )


def _train_fn(config: Config) -> Callable[[TrainJob], Any]:
    """How children are trained; the NAS-Bench-201 table looks accuracies up instead."""
    if config.data.dataset == "nb201_table":
        from coexplore.tabular.accuracy import table_trainer

        return table_trainer(config)
    return run_train_job


def make_space(config: Config) -> SearchSpace[Any]:
    if config.space.name == "nb201":
        return Nb201Space()
    if config.space.name == "imagenet":  # depth: conv layers over the five stages
        return ImagenetSpace(depth=config.space.depth)
    if config.space.name == "unet":  # depth: levels, the bottleneck included
        return UnetSpace(levels=config.space.depth)
    return ChainSpace(depth=config.space.depth, stride_mode=config.space.stride_mode)


def make_pool(config: Config) -> Pool:
    catalog = load_catalog(
        Path(config.hardware.devices_file) if config.hardware.devices_file else None
    )
    return parse_pool(config.hardware.pool, config.hardware.link_gbps, catalog)


def make_strategy(
    config: Config,
    space: SearchSpace[Any],
    pool: Pool,
    spec: Spec,
    precision: Precision,
    shape: tuple[int, int, int],
    classes: int,
) -> Strategy:
    name, seed = config.run.strategy, config.run.seed
    if name == "random":
        return RandomStrategy(space, seed)
    if name != "coexplore":
        from coexplore.search.baselines import make_baseline  # issue: baselines

        return make_baseline(name, config, space, pool, spec, precision, shape, classes)
    settings = ControllerSettings(**to_dict(config)["controller"])
    if config.fast.mode == "optimal":
        return ControllerStrategy(space, settings, seed)
    max_layers = len(space.workload(space.sample(np.random.default_rng(seed)), shape, classes))

    def judge(arch: Any, tokens: tuple[int, ...]) -> Any:
        return judge_tokens(tokens, space.workload(arch, shape, classes), pool, spec, precision)

    return ControllerStrategy(
        space, settings, seed, hardware_tokens(pool, max_layers), judge, config.fast.hw_tries
    )


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: dict[str, Any]


def start(
    config: Config, run_dir: Path, executor: Executor | None = None, progress: bool = True
) -> RunResult:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(to_toml(config))
    with RunStorage.create(run_dir / DB_NAME, to_dict(config)) as storage:
        storage.set_meta("status", "running")
    return resume(run_dir, executor, progress)


def resume(run_dir: Path, executor: Executor | None = None, progress: bool = True) -> RunResult:
    from coexplore.search.outputs import ProgressBar, write_outputs

    with RunStorage.open(run_dir / DB_NAME) as storage, contextlib.ExitStack() as owned:
        config = parse_config(_sections(storage.config()))
        setup = build_setup(config)
        # An executor made here is closed here (its worker processes or Ray cluster stop).
        executor = executor or owned.enter_context(make_executor(config))
        with ProgressBar(setup.trials, config, storage.trials(), enabled=progress) as bar:
            run_search(setup, storage, executor, bar.update)
        summary = write_outputs(
            run_dir, storage, config, setup, executor, _final_job(config, setup)
        )
    return RunResult(run_dir, summary)


def _final_job(
    config: Config, setup: SearchSetup
) -> Callable[[dict[str, Any], int], TrainJob] | None:
    if config.final.epochs <= 0:
        return None
    train = TrainConfig(**{**to_dict(config)["train"], "epochs": config.final.epochs})
    return lambda arch_json, seed: TrainJob(arch_json, setup.data, train, seed, test=True)


def _sections(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored config as parse_config input (tuples come back from JSON as lists)."""
    return {name: dict(values) for name, values in stored.items()}
