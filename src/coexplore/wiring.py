"""The wiring: a run from a config. Builds every object the loop needs (space, pool, spec from
`coexplore.problem`; strategy, explorer, reward, data, executor), runs the loop with a progress
bar and writes the outputs. The top of the import graph: only the command line, `compare`,
`report` and `export` import it, never the layers it wires (tests/test_layout.py checks).

Run folder: run.db (every trial, checkpoints), config.toml (resolved), picks.json (OptSW and
OptHW), pareto.png (accuracy vs FPS and vs GOPS/W), trials.csv.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coexplore.config import (
    CORE_SECTIONS,
    Config,
    ConfigError,
    SpaceConfig,
    parse_config,
    to_dict,
    to_toml,
)
from coexplore.datasets import DATASETS
from coexplore.errors import SearchStopped, UserError
from coexplore.executors import EXECUTORS, Executor, make_executor, signals_end_the_run
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Precision
from coexplore.problem import dataset_shape, make_pool, make_space, make_spec
from coexplore.search import strategies
from coexplore.search.fidelity import Fidelity
from coexplore.search.loop import SearchSetup, run_search
from coexplore.search.reward import Reward, default_hw_bounds
from coexplore.search.strategy import StrategyContext
from coexplore.slow.jobs import ScoreJob, TrainJob, run_score_job, run_train_job
from coexplore.slow.trainer import resolve_device
from coexplore.spaces import SPACES
from coexplore.storage import DB_NAME, RunStorage, StorageError


def check_config(config: Config) -> Config:
    """The config with every name it gives checked against its registry (strategy, space,
    dataset, executor kind), the [space] keys against what its space reads, the sections a
    component owns against their declarations, and those sections resolved with their
    defaults (what the run folder keeps). ConfigError naming the key otherwise."""
    _check_name("run.strategy", config.run.strategy, strategies.configurable())
    _check_name("space.name", config.space.name, tuple(SPACES))
    _check_name("data.dataset", config.data.dataset, tuple(DATASETS))
    _check_name("executor.kind", config.executor.kind, tuple(EXECUTORS))
    _check_space_keys(config.space)
    if DATASETS[config.data.dataset].table and len(config.hardware.precisions) > 1:
        raise ConfigError(
            f"config: hardware.precisions: {config.data.dataset} holds float accuracies only, so "
            "precision is a hardware choice there: give one precision"
        )
    if config.executor.timeout_s > 0 and not EXECUTORS[config.executor.kind].stops_children:
        able = " or ".join(k for k, e in EXECUTORS.items() if e.stops_children)
        raise ConfigError(
            f"config: executor.timeout_s needs executor.kind {able} (the "
            f"{config.executor.kind} executor trains in the search process, which cannot stop "
            "a child midway)"
        )
    owned = strategies.sections()
    for name in config.components:
        if name not in owned:
            known = ", ".join([*CORE_SECTIONS, *owned])
            raise ConfigError(f"config: unknown section [{_printable(name)}]; sections: {known}")
    resolved = {
        name: dataclasses.asdict(config.component(name, cls)) for name, cls in owned.items()
    }
    return dataclasses.replace(config, components=resolved)


def _check_name(key: str, value: str, names: tuple[str, ...]) -> None:
    if value not in names:
        raise ConfigError(f"config: {key}: {value!r} is not one of {', '.join(names)}")


def _check_space_keys(section: SpaceConfig) -> None:
    """A [space] key the chosen space does not read must stay at its default."""
    reads = SPACES[section.name].settings
    default = SpaceConfig()
    for f in dataclasses.fields(section):
        if f.name not in ("name", *reads) and getattr(section, f.name) != getattr(default, f.name):
            theirs = ", ".join(reads) or "none"
            raise ConfigError(
                f"config: space.{f.name} is not a setting of the {section.name} space "
                f"(its settings: {theirs})"
            )


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


def build_setup(
    config: Config,
    explorer: OptimalExplorer | None = None,
    strategy: str | None = None,
    indices: Any = None,
) -> SearchSetup:
    """Everything the loop needs, from a config (checked here: `check_config`). `explorer` is
    the fast explorer the loop and the strategy share (default: the exact one; the tabular
    benchmark passes its table's). `strategy` is a registered strategy (default: run.strategy;
    `coexplore compare` names exhaustive, which no config can, with the table's `indices`)."""
    config = check_config(config)
    space = make_space(config)
    shape, classes = dataset_shape(config)
    pool = make_pool(config)
    spec = make_spec(config)
    precision = Precision(config.hardware.precisions[0])
    hw_bounds = config.reward.hw_bounds
    if hw_bounds == (0.0, 0.0):
        hw_bounds = default_hw_bounds(config.reward.metric, config.spec.fps)
    explorer = explorer or OptimalExplorer(pool, spec, precision)
    others = {p: OptimalExplorer(pool, spec, Precision(p)) for p in config.hardware.precisions[1:]}
    context = StrategyContext(
        config, space, pool, spec, precision, shape, classes, explorer, indices, others
    )
    searcher, rules = strategies.build_strategy(strategy or config.run.strategy, context)
    train_fn, score_fn = _train_fns(config)
    return SearchSetup(
        space=space,
        strategy=searcher,
        rules=rules,
        explorer=rules.explorer or explorer,
        explorers=rules.explorers or others,
        spec=spec,
        reward=Reward(
            config.reward.alpha, config.reward.metric, config.reward.acc_bounds, hw_bounds
        ),
        data=config.data,
        train=config.train,
        workload=lambda arch: space.workload(arch, shape, classes),
        trials=config.run.trials,
        batch=config.run.batch,
        seed=config.run.seed,
        precision=precision.value,
        precisions=config.hardware.precisions,
        early_images=config.fidelity.early_precision_images,
        train_fn=train_fn,
        score_fn=score_fn,
        stop_after_failures=config.run.stop_after_failures,
        multi_fidelity=Fidelity.halving(
            config.train.epochs, config.fidelity.min_epochs, config.fidelity.eta
        ),
    )


def _train_fns(config: Config) -> tuple[Callable[[TrainJob], Any], Callable[[ScoreJob], Any]]:
    """How children are trained and scored at precision; the NAS-Bench-201 table looks
    accuracies up instead."""
    if DATASETS[config.data.dataset].table:
        from coexplore.tabular.accuracy import table_trainer

        trainer = table_trainer(config)
        return trainer, trainer.score
    return run_train_job, run_score_job


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    finished_before: bool = False  # a resume of a run that had finished: nothing was trained


def check_inputs(config: Config) -> SearchSetup:
    """Everything a run needs, checked before anything is written: the pool and devices file,
    the search space and strategy, the accuracy table of a tabular run, the dataset's files."""
    setup = build_setup(config)  # pool, devices file, folder datasets, the NB201 table
    check_data(config)
    check_device(config)
    return setup


def check_device(config: Config) -> None:
    """train.device = "cuda" on a machine without CUDA is refused now, not by every child in
    turn. Children of a Ray cluster joined by address train on its nodes, which this machine
    cannot look at; a table dataset trains nothing."""
    here = not config.executor.address and not DATASETS[config.data.dataset].table
    if config.train.device == "cuda" and here:
        resolve_device(config.train.device)


def check_data(config: Config) -> None:
    """Fail now, in one line naming data.root, if the children could not load their data: the
    dataset's own check (`Dataset.check`: cifar10's batches). The built-in ones need none;
    build_setup has read a folder dataset's folder and a tabular run's table already."""
    DATASETS[config.data.dataset].check_files(config.data)


def start(
    config: Config,
    run_dir: Path,
    executor: Executor | None = None,
    progress: bool = True,
    announce: Callable[[], None] | None = None,
) -> RunResult:
    """Check the run folder and the inputs, make the run folder, run. `announce` is called once
    everything is checked, before the folder is made (the command line's start-up line). When
    the run ends before any trial is stored (an executor that cannot start, Ctrl-C during
    start-up), what this call made is removed again, so the same command can simply be run
    again: no stray folder that "already holds a run"."""
    check_run_dir(run_dir)
    config = check_config(config)  # the run folder keeps every section, resolved
    check_inputs(config)
    if announce is not None:
        announce()
    made = _first_missing(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        (run_dir / "config.toml").write_text(to_toml(config))
        with RunStorage.create(run_dir / DB_NAME, to_dict(config)) as storage:
            storage.set_meta("status", "running")
        return resume(run_dir, executor, progress)
    except BaseException:
        _remove_if_empty(run_dir, made)
        raise


def check_run_dir(run_dir: Path) -> None:
    """A new run goes into a new or empty folder: never beside a run (resume that instead) or
    someone's files (a run's outputs would mix with them)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a folder; give a new or empty folder for the run")
    if (run_dir / DB_NAME).exists():
        raise UserError(f"{run_dir} already holds a run; use `coexplore resume {run_dir}`")
    if any(run_dir.iterdir()):
        raise UserError(
            f"{run_dir}: the folder is not empty and holds no run; give a new or empty folder "
            "for the run"
        )


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None: it exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _remove_if_empty(run_dir: Path, made: Path | None) -> None:
    """Remove the run files (and the folders `start` made) if no trial was stored."""
    db = run_dir / DB_NAME
    if db.exists():
        try:
            with RunStorage.open(db) as storage:
                if storage.trials() or storage.latest_checkpoint() is not None:
                    return
        except StorageError:
            return  # unreadable: leave it for the user to look at
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", "config.toml"):
        (run_dir / name).unlink(missing_ok=True)
    if made is not None:
        for folder in (run_dir, *run_dir.parents):
            with contextlib.suppress(OSError):  # not empty (someone else's files): keep it
                folder.rmdir()
            if folder == made:
                break


# Keys `resume --set` may change: where things are and how children run, never what the run
# searches (a changed space, spec or seed would mix two runs in one database).
MENDABLE = ("data.root", "hardware.devices_file", "train.device", "train.threads", "executor.")


def mend_config(config: Config, overrides: dict[str, Any]) -> Config:
    """The stored config with `overrides` applied, for keys in MENDABLE only."""
    for key in overrides:
        if not any(key == m or (m.endswith(".") and key.startswith(m)) for m in MENDABLE):
            raise ConfigError(
                f"resume --set: {key} cannot change in a started run; only "
                f"{', '.join(m + '*' if m.endswith('.') else m for m in MENDABLE)} can"
            )
    raw = to_dict(config)
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        raw[section][name] = value
    return check_config(parse_config(raw))


def resume(
    run_dir: Path,
    executor: Executor | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> RunResult:
    """Continue the run in `run_dir`; `overrides` mend its config first (see MENDABLE). A run
    that had finished trains nothing: its summary is read back from picks.json, or, when an
    output is missing, the outputs are written again from what run.db keeps (`write_outputs`
    reuses the stored final test results)."""
    from coexplore.search.outputs import OUTPUTS, write_outputs
    from coexplore.search.progress import ProgressBar

    with RunStorage.open(run_dir / DB_NAME) as storage, contextlib.ExitStack() as owned:
        # A run stored by an earlier version keeps working: its keys under today's names.
        config = check_config(parse_config(_sections(storage.config())))
        if overrides:
            config = mend_config(config, overrides)
        setup = check_inputs(config)
        if overrides:  # checked: now it is the run's config
            storage.replace_config(to_dict(config))
            (run_dir / "config.toml").write_text(to_toml(config))
        finished = storage.get_meta("status") == "finished"
        if finished and (summary := _written_summary(run_dir, OUTPUTS)) is not None:
            return RunResult(run_dir, summary, finished_before=True)
        # An executor made here is closed here (its worker processes or Ray cluster stop).
        executor = executor or owned.enter_context(make_executor(config))
        owned.enter_context(signals_end_the_run())
        try:
            with ProgressBar(setup.trials, config, storage.trials(), enabled=progress) as bar:
                run_search(setup, storage, executor, bar.update)
        except SearchStopped as stop:
            storage.set_meta("status", "stopped")
            storage.set_meta("stopped_because", str(stop))
            write_outputs(run_dir, storage, config, setup, executor, None)
            raise
        summary = write_outputs(
            run_dir, storage, config, setup, executor, _final_job(config, setup)
        )
        # The finished children's weights left free pages behind. Giving them back is a
        # nicety: a reader holding the file (a report) must not turn a finished run into an error.
        with contextlib.suppress(StorageError):
            storage.compact()
    return RunResult(run_dir, summary, finished_before=finished)


def _written_summary(run_dir: Path, outputs: tuple[str, ...]) -> dict[str, Any] | None:
    """picks.json's summary when every output of a finished run is there (None: write them)."""
    if not all((run_dir / name).is_file() for name in outputs):
        return None
    try:
        summary = json.loads((run_dir / "picks.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and "counts" in summary else None


def _final_job(
    config: Config, setup: SearchSetup
) -> Callable[[dict[str, Any], int, str], TrainJob] | None:
    """The final retraining of a pick: scored on the test split at its precision."""
    if config.final.epochs <= 0:
        return None
    train = dataclasses.replace(config.train, epochs=config.final.epochs)
    return lambda arch_json, seed, precision: TrainJob(
        arch_json, setup.data, setup.seed, train, seed, test=True, precisions=(precision,)
    )


def _sections(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored config as parse_config input (tuples come back from JSON as lists)."""
    return {name: dict(values) for name, values in stored.items()}
