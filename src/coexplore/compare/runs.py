"""Run one strategy with one seed through the normal loop and storage, into its own folder.

A tabular config (NAS-Bench-201 table) runs training-free: the accuracy table is the train_fn
and the hardware table answers the fast exploration (hardware-aware NAS keeps its own fixed-
design explorer). A `trained` budget stops a run from the loop's progress hook once that many
children have been trained, an `epochs` budget once its trained children have spent that many
training epochs (whichever comes first); `run.trials` stays the cap on children sampled.
Running a finished strategy again reads it back; an interrupted one, or one stopped by a
smaller budget, continues where it stopped. A run whose children kept failing alike
(`SearchStopped`) ends there and is compared on what it trained: the comparison goes on with
the others.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coexplore.config import Config, to_dict, to_toml
from coexplore.errors import InputError, SearchStopped
from coexplore.executors import Executor, LocalExecutor
from coexplore.search.loop import SearchSetup, run_search
from coexplore.search.strategies import registry
from coexplore.storage import DB_NAME, RunStorage, TrialRecord, TrialState
from coexplore.tabular.benchmark import Benchmark
from coexplore.wiring import build_setup


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy: those a config can name, and exhaustive enumeration (tabular
    ground truth only)."""
    return tuple(registry())


_CONFIG_ONLY = "random"  # what run.strategy says for a strategy the config cannot name


@dataclass(frozen=True)
class StrategyRun:
    strategy: str
    seed: int
    run_dir: Path
    trials: tuple[TrialRecord, ...]
    wall_seconds: float


class _Enough(Exception):
    """Raised from the progress hook once the trained budget is spent."""


def is_trained(t: TrialRecord) -> bool:
    """A child that was really trained (not pruned, not a reused repeat)."""
    return t.state in (TrialState.COMPLETE, TrialState.FAILED) and t.attempts > 0


def strategy_config(config: Config, strategy: str, seed: int) -> Config:
    if strategy not in registry():
        names = ", ".join(strategy_names())
        raise InputError(f"unknown strategy {strategy!r}; strategies: {names}")
    named = strategy if registry()[strategy].configurable else _CONFIG_ONLY
    return dataclasses.replace(
        config, run=dataclasses.replace(config.run, strategy=named, seed=seed)
    )


def strategy_setup(config: Config, strategy: str, bench: Benchmark | None) -> SearchSetup:
    """The loop's setup for `strategy` (config already carries its seed); on a tabular config
    the loop and the strategy share the benchmark's table explorer."""
    if strategy == "exhaustive":  # the ground truth: every tabulated architecture once
        if bench is None:
            raise InputError(
                "strategy exhaustive needs a tabular config (data.dataset nb201_table)"
            )
        return build_setup(config, bench.explorer, strategy, bench.accuracy.indices)
    return build_setup(config, explorer=bench.explorer if bench is not None else None)


def run_strategy(
    config: Config,
    strategy: str,
    seed: int,
    run_dir: Path,
    trained: int = 0,
    bench: Benchmark | None = None,
    executor: Executor | None = None,
    say: Callable[[str], None] | None = None,
    epochs: int = 0,
) -> StrategyRun:
    """Run (or continue, or read back) `strategy` with `seed` in `run_dir`, until `trained`
    children or `epochs` training epochs are spent (0: no such budget) or `run.trials` asked."""
    config = strategy_config(config, strategy, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    db = run_dir / DB_NAME
    with RunStorage.open(db) if db.exists() else RunStorage.create(db, to_dict(config)) as st:
        if json.loads(json.dumps(to_dict(config))) != st.config():
            raise InputError(f"{run_dir} holds a run of another config; choose another --out")
        if _unfinished(st, trained, epochs):
            (run_dir / "config.toml").write_text(to_toml(config))
            setup = strategy_setup(config, strategy, bench)
            _search(setup, st, executor or LocalExecutor(), trained, epochs)
        result = StrategyRun(
            strategy,
            seed,
            run_dir,
            first_trained(st.trials(), trained),
            float(st.get_meta("wall_seconds") or 0.0),
        )
        stopped = st.get_meta("stopped_because") if st.get_meta("status") == "stopped" else ""
    if say:
        done = sum(is_trained(t) for t in result.trials)
        say(
            f"{strategy} seed {seed}: {len(result.trials)} explored, {done} trained, "
            f"{result.wall_seconds:.1f} s  ({run_dir})" + (f"; {stopped}" if stopped else "")
        )
    return result


def first_trained(trials: list[TrialRecord], trained: int) -> tuple[TrialRecord, ...]:
    """The trials up to the `trained`-th trained child (all of them when `trained` is 0): the
    budget is checked after each batch, so the last batch may have trained a few more; they
    stay in run.db but every strategy is compared on exactly `trained` trainings."""
    count = 0
    for end, t in enumerate(trials, start=1):
        count += is_trained(t)
        if trained > 0 and count == trained:
            return tuple(trials[:end])
    return tuple(trials)


def training_epochs(trials: Sequence[TrialRecord]) -> int:
    """The training epochs `trials` spent: each trained child's `epochs` (a multi-fidelity
    child stopped after 1 epoch costs 1); pruned children and reused repeats cost nothing."""
    return sum(t.epochs for t in trials if is_trained(t))


def within_epochs(trials: Sequence[TrialRecord], budget: int) -> tuple[TrialRecord, ...]:
    """What a run had trained when `budget` training epochs were spent: its trials in trial
    order up to the last trained child whose epochs still fit in the budget (a child that would
    pass it was not finished then, nor anything after it). All of them when `budget` is 0 or
    the run spent less."""
    ordered = sorted(trials, key=lambda t: t.number)
    spent = 0
    for end, t in enumerate(ordered):
        spent += t.epochs if is_trained(t) else 0
        if budget > 0 and spent > budget:
            return tuple(ordered[:end])
    return tuple(ordered)


def _unfinished(storage: RunStorage, trained: int, epochs: int) -> bool:
    """Not finished, or stopped by a budget that this one's does not reach."""
    if storage.get_meta("status") != "finished":
        return True
    if storage.get_meta("stopped_by") != "budget":
        return False
    return not _spent(storage.trials(), trained, epochs)


def _spent(trials: Sequence[TrialRecord], trained: int, epochs: int) -> bool:
    """Whether `trials` reach a budget given: `trained` children trained, or `epochs` training
    epochs spent."""
    done = [t for t in trials if is_trained(t)]
    return (0 < trained <= len(done)) or (0 < epochs <= training_epochs(done))


def _search(
    setup: SearchSetup, storage: RunStorage, executor: Executor, trained: int, epochs: int
) -> None:
    start, before = time.perf_counter(), float(storage.get_meta("wall_seconds") or 0.0)
    try:
        run_search(setup, storage, executor, _budget(storage, trained, epochs))
    except _Enough:
        storage.set_meta("status", "finished")
        storage.set_meta("stopped_by", "budget")
    except SearchStopped as stop:  # its children kept failing alike: an outcome to compare
        storage.set_meta("status", "stopped")
        storage.set_meta("stopped_because", str(stop))
    else:
        storage.set_meta("stopped_by", "trials")
    storage.set_meta("wall_seconds", repr(before + time.perf_counter() - start))


def _budget(
    storage: RunStorage, trained: int, epochs: int
) -> Callable[[list[TrialRecord]], None] | None:
    if trained <= 0 and epochs <= 0:
        return None
    seen = {t.number: t for t in storage.trials() if is_trained(t)}

    def hook(records: list[TrialRecord]) -> None:
        seen.update((r.number, r) for r in records if is_trained(r))
        if _spent(list(seen.values()), trained, epochs):
            raise _Enough

    return hook


def outputs(run: StrategyRun, config: Config, bench: Benchmark | None) -> dict[str, Any]:
    """The run folder's picks.json, trials.csv and pareto.png (as `coexplore search` writes)."""
    from coexplore.search.outputs import write_outputs

    config = strategy_config(config, run.strategy, run.seed)
    with RunStorage.open(run.run_dir / DB_NAME) as storage:
        setup = strategy_setup(config, run.strategy, bench)
        return write_outputs(run.run_dir, storage, config, setup, LocalExecutor(), None)
