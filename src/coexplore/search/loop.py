"""The search loop: ask -> fast exploration -> (prune | train) -> reward -> tell -> store.

Every finished trial is stored as soon as it finishes; the strategy's state is checkpointed
after every batch. Resuming restores the last checkpoint and re-asks the next batch: the
strategy proposes the same candidates, and trials of that batch already stored are reused, so
no finished trial is lost or run twice.

No network is trained twice either: a trial's `network_key` is the space's network key
(`SearchSpace.network_key`: architectures with one key train the same network), and a child
whose network was trained before takes that training's accuracy (`_reuse`); two children of one
network in a batch train once.

Accuracy at precision: a child's `accuracy` is the one its design's arithmetic computes
(`precision`; docs/fixed-point.md), `float_accuracy` the float one. A child is scored at every
precision of the run (`accuracy_at`) once, when its training ends (`slow.jobs`), so a network
trained at one precision is a trained pair at every other. Promotions between rungs rank by
the float accuracy at the rung (docs/search.md, "Promotion rule": scoring every child at every
rung would cost more than the training it saves).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from coexplore.config import DataConfig, TrainConfig
from coexplore.executors import Executor, JobFailure
from coexplore.fast.optimal import FastResult, OptimalExplorer
from coexplore.hardware.devices import Spec
from coexplore.hardware.pipeline import spec_problem
from coexplore.search.failures import FailureWatch
from coexplore.search.fidelity import Fidelity, Ranking, by_front, by_score
from coexplore.search.reward import PRUNED_REWARD, Reward, normalise
from coexplore.search.strategy import Candidate, Outcome, Rules, Strategy
from coexplore.slow.jobs import (
    JobResult,
    ScoreJob,
    ScoreResult,
    TrainJob,
    run_score_job,
    run_train_job,
)
from coexplore.spaces.base import SearchSpace
from coexplore.storage import RunStorage, StorageError, TrialRecord, TrialState
from coexplore.workload import Workload


@dataclass(frozen=True)
class SearchSetup:
    """What one run's loop works with (assembled from the config by `coexplore.wiring`)."""

    space: SearchSpace[Any]
    strategy: Strategy
    rules: Rules  # what the strategy means for the problem (its registry entry's)
    explorer: OptimalExplorer
    spec: Spec
    reward: Reward
    data: DataConfig  # what the workers load, split with the run's seed
    train: TrainConfig
    workload: Callable[[Any], Workload]
    trials: int
    batch: int
    seed: int
    precision: str = "fixed16"  # the arithmetic of `explorer`'s designs
    explorers: Mapping[str, Any] = field(default_factory=dict)  # other precisions' explorers
    precisions: tuple[str, ...] = ()  # a child is scored at each (the run's hardware.precisions)
    early_images: int = 0  # a child stopped at an early rung is scored on this many (0: all)
    train_fn: Callable[[TrainJob], Any] = run_train_job
    score_fn: Callable[[ScoreJob], Any] = run_score_job
    stop_after_failures: int = 0  # trainings failed alike in a row that stop the search (0: never)
    multi_fidelity: Fidelity | None = None  # None: every child trains train.epochs

    @property
    def batches(self) -> int:
        return -(-self.trials // self.batch)

    @property
    def fidelity(self) -> Fidelity:
        return self.multi_fidelity or Fidelity((self.train.epochs,))

    def explorer_for(self, precision: str) -> Any:
        return self.explorers.get(precision, self.explorer)


Progress = Callable[[list[TrialRecord]], None]


def run_search(
    setup: SearchSetup, storage: RunStorage, executor: Executor, progress: Progress | None = None
) -> None:
    """Run (or continue) the search until every batch is done, or until its children keep failing
    for one reason (SearchStopped, raised after that batch is stored and checkpointed)."""
    first = _restore(setup, storage)
    watch = FailureWatch(setup.stop_after_failures)
    for batch in range(first, setup.batches):
        size = min(setup.batch, setup.trials - batch * setup.batch)
        candidates = setup.strategy.ask(size)
        records = evaluate_batch(setup, storage, executor, batch, candidates)
        setup.strategy.tell(candidates, [Outcome.of(r) for r in records])
        storage.save_checkpoint(batch, setup.strategy.state_bytes())
        if progress:
            progress(records)
        watch.check(records, batch)
    storage.set_meta("status", "finished")


def _restore(setup: SearchSetup, storage: RunStorage) -> int:
    checkpoint = storage.latest_checkpoint()
    if checkpoint is None:
        return 0
    batch, blob = checkpoint
    try:
        setup.strategy.load_state(blob)
    except Exception as exc:  # bytes damaged on disk: any decoder error; say so in one line
        raise StorageError(
            f"{storage.path}: run database is damaged: checkpoint of batch {batch} does not load "
            f"({type(exc).__name__})"
        ) from exc
    return batch + 1


def trial_seed(run_seed: int, number: int) -> int:
    return int(np.random.SeedSequence([run_seed, number]).generate_state(1)[0])


def evaluate_batch(
    setup: SearchSetup,
    storage: RunStorage,
    executor: Executor,
    batch: int,
    candidates: list[Candidate],
) -> list[TrialRecord]:
    """Finished records for a batch, in slot order: stored ones reused, the rest evaluated."""
    done: dict[int, TrialRecord] = {}
    waiting: dict[str, list[TrialRecord]] = {}  # network key -> records that need its training
    for slot, candidate in enumerate(candidates):
        stored = storage.trial_at(batch, slot)
        if stored is not None and stored.state is not TrialState.RUNNING:
            done[slot] = stored
            continue
        if stored is not None and stored.epochs > 0:  # part-trained (multi-fidelity)
            record = stored
        else:
            record = _fast_level(setup, storage, batch, slot, candidate)
        if record.state is TrialState.RUNNING:
            waiting.setdefault(record.network_key, []).append(record)
        else:
            storage.put_trial(record)
            done[slot] = record
    firsts = [records[0] for records in waiting.values()]
    trained = _train_rungs(setup, storage, executor, firsts, list(done.values()))
    for first, *repeats in waiting.values():
        result = done[first.slot] = trained[first.number]
        for record in repeats:
            if result.state is TrialState.FAILED:  # its network's training failed: so does it
                done[record.slot] = _failed(record, result.reason, 0)
            else:
                done[record.slot] = _reuse(setup, record, result)
            storage.put_trial(done[record.slot])
    return [done[slot] for slot in range(len(candidates))]


def _train_rungs(
    setup: SearchSetup,
    storage: RunStorage,
    executor: Executor,
    running: list[TrialRecord],
    batch_done: list[TrialRecord],
) -> dict[int, TrialRecord]:
    """Train the batch's RUNNING children rung by rung (coexplore.search.fidelity): after each
    rung the promoted ones go on and the others finish. Finished records by trial number."""
    # Children of this batch that finished at an earlier rung before a resume still count in
    # the rankings of the rungs they reached.
    population = {t.number: t for t in batch_done if t.reused_from is None and t.attempts > 0}
    population |= {t.number: t for t in running}
    finished: dict[int, TrialRecord] = {}
    for epochs in setup.fidelity.rungs:
        while due := [t for t in running if t.epochs < epochs]:
            for trained in _train_one_epoch(setup, storage, executor, due, epochs):
                population[trained.number] = trained
            running = [population[t.number] for t in running]
            finished |= {t.number: t for t in running if t.state is not TrialState.RUNNING}
            running = [t for t in running if t.state is TrialState.RUNNING]
        reached = [t for t in population.values() if epochs in t.rung_accuracies]
        promoted = setup.fidelity.promote(reached, epochs, *_promotion_rule(setup))
        stopping = [t for t in running if t.number not in promoted]
        for t in _score_stopping(setup, storage, executor, stopping):
            finished[t.number] = t
            storage.put_trial(t)
        running = [t for t in running if t.number in promoted]
    return finished


def _score_stopping(
    setup: SearchSetup, storage: RunStorage, executor: Executor, stopping: list[TrialRecord]
) -> list[TrialRecord]:
    """The children that stop at this (earlier) rung, scored at each precision of the run from
    their stored weights, then COMPLETE (FAILED when scoring fails)."""
    if not setup.precisions:
        return [_complete(setup, t) for t in stopping]
    jobs = [_score_job(setup, storage, t) for t in stopping]
    out = []
    for t, (result, _) in zip(stopping, executor.imap_attempts(setup.score_fn, jobs), strict=True):
        if isinstance(result, JobFailure):
            out.append(_failed(t, f"scoring at precision: {result.reason}", t.attempts))
            continue
        out.append(_complete(setup, _scored(t, result)))
    return out


def _score_job(setup: SearchSetup, storage: RunStorage, record: TrialRecord) -> ScoreJob:
    stored = storage.train_state(record.number)
    state = stored[1] if stored is not None else b""
    assert record.float_accuracy is not None  # trained to this rung
    return ScoreJob(
        record.arch, setup.data, setup.seed, record.seed, state, setup.precisions,
        record.float_accuracy, setup.early_images,
    )  # fmt: skip


def _scored(record: TrialRecord, result: ScoreResult) -> TrialRecord:
    return replace(
        record,
        accuracy=result.accuracy_at[record.precision],
        accuracy_at=dict(result.accuracy_at),
        val_images=result.images,
        timings={**record.timings, "score_seconds": result.seconds},
    )


def _promotion_rule(setup: SearchSetup) -> tuple[Ranking, int]:
    """How the strategy ranks the children at a rung, and how many go on at least
    (docs/search.md, "Promotion rule")."""
    if setup.rules.promotion == "front":
        return by_front(setup.reward.metric), 2
    return by_score(lambda t: _reward(setup, t)), 1


def _train_one_epoch(
    setup: SearchSetup,
    storage: RunStorage,
    executor: Executor,
    due: list[TrialRecord],
    rung: int,
) -> list[TrialRecord]:
    """Train each of `due` one more epoch towards `rung`, storing each child (with its weights,
    while it is RUNNING) as soon as its epoch is done.

    One epoch per job, so a kill loses at most the epochs in flight: a resumed child goes on
    from its last stored epoch and no finished epoch is trained again. The learning-rate
    schedule spans `train.epochs` however the epochs are cut (`train_child`), so the outcome
    is that of training straight through."""
    last = setup.fidelity.rungs[-1]
    jobs = [_job(setup, storage, t, t.epochs + 1, t.epochs + 1 == last) for t in due]
    out = []
    for t, (result, attempts) in zip(
        due, executor.imap_attempts(setup.train_fn, jobs), strict=True
    ):
        trained = _trained(t, result, attempts, t.epochs + 1, rung)
        if trained.state is TrialState.RUNNING and trained.epochs == setup.fidelity.rungs[-1]:
            trained = _complete(setup, trained)  # the last epoch: nothing more to wait for
        state = result.train.state if trained.state is TrialState.RUNNING else b""
        storage.put_trial(trained, state)
        out.append(trained)
    return out


def _fast_level(
    setup: SearchSetup, storage: RunStorage, batch: int, slot: int, candidate: Candidate
) -> TrialRecord:
    """A PRUNED or reused record (its network trained before), or a RUNNING one that still
    needs training."""
    number = batch * setup.batch + slot
    fast = _fast(setup, candidate)
    record = TrialRecord(
        number=number,
        batch=batch,
        slot=slot,
        strategy=setup.rules.name,
        state=TrialState.RUNNING,
        arch_key=candidate.arch.key,
        arch=setup.space.to_json(candidate.arch),
        hardware=fast.design.to_json() if fast.design else None,
        metrics=fast.evaluation.metrics() if fast.evaluation else {},
        reward=None,
        reason=fast.reason,
        seed=trial_seed(setup.seed, number),
        started_at=time.time(),
        finished_at=None,
        timings={"fast_seconds": fast.seconds},
        meets_spec=not fast.pruned,
        hw_tries=candidate.hw_tries,
        precision=setup.space.precision_of(candidate.arch) or setup.precision,
        network_key=setup.space.network_key(candidate.arch),
    )
    if fast.pruned and setup.rules.prunes:
        return replace(
            record,
            state=TrialState.PRUNED,
            reward=PRUNED_REWARD,
            finished_at=time.time(),
            attempts=0,
        )
    earlier = storage.find_trained(record.network_key)
    if earlier is not None:
        return _reuse(setup, record, earlier)
    return record


def _fast(setup: SearchSetup, candidate: Candidate) -> FastResult:
    if candidate.judgement is not None:  # controller mode: the strategy's sampled design
        j = candidate.judgement
        return FastResult(j.design, j.evaluation, j.reason, 0.0)
    workload = setup.workload(candidate.arch)
    explorer = setup.explorer_for(setup.space.precision_of(candidate.arch) or setup.precision)
    if setup.rules.prunes:
        return explorer.explore(workload, setup.spec)
    # Hardware designed afterwards: the best design whatever the spec, then judged on it.
    result = explorer.explore(workload, Spec())
    miss = "" if result.evaluation is None else _spec_miss(result, setup.spec)
    return replace(result, reason=result.reason or miss)


def _spec_miss(result: FastResult, spec: Spec) -> str:
    assert result.evaluation is not None
    return spec_problem(result.evaluation, spec)


def _job(
    setup: SearchSetup, storage: RunStorage, record: TrialRecord, epochs: int, last: bool
) -> TrainJob:
    """The job that trains `record` to `epochs`, going on from its stored state if it has one;
    the `last` epoch of its training also scores it at each precision of the run."""
    stored = storage.train_state(record.number) if record.epochs > 0 else None
    # Without the state that goes with its epochs (none stored), the child starts afresh.
    state = stored[1] if stored is not None and stored[0] == record.epochs else b""
    precisions = setup.precisions if last else ()
    return TrainJob(
        record.arch, setup.data, setup.seed, setup.train, record.seed, False, epochs, state,
        precisions,
    )  # fmt: skip


def _trained(
    record: TrialRecord, result: JobResult | JobFailure, attempts: int, epochs: int, rung: int
) -> TrialRecord:
    """`record` after training to `epochs`: still RUNNING with its accuracy (and, at the end of
    a rung, the rung's accuracy, which promotions rank), or FAILED. Its `attempts` are 1 plus
    the retries of all its epochs' jobs (`attempts`: the tries of this one)."""
    if record.epochs > 0:  # its earlier epochs' jobs: their retries count too
        attempts += record.attempts - 1
    if isinstance(result, JobFailure):
        return _failed(record, result.reason, attempts)
    train = result.train
    seconds = record.timings.get("train_seconds", 0.0) + train.seconds
    record = replace(
        record, timings={**record.timings, "train_seconds": seconds}, attempts=attempts
    )
    if not train.ok:
        return _failed(record, train.reason, attempts)
    rungs = {**record.rung_accuracies, rung: train.val_accuracy} if epochs == rung else {}
    record = replace(
        record,
        metrics={**record.metrics, **train.val_metrics},  # e.g. iou, dice of segmentation
        accuracy=train.val_accuracy,  # float until scored at its precision (the last epoch)
        float_accuracy=train.val_accuracy,
        epochs=epochs,
        rung_accuracies=rungs or record.rung_accuracies,
        val_images=result.val_images or record.val_images,
    )
    if not result.accuracy_at:
        return record
    scored = ScoreResult(result.accuracy_at, result.scored_images, result.scored_seconds)
    return _scored(record, scored)


def _failed(record: TrialRecord, reason: str, attempts: int) -> TrialRecord:
    return replace(
        record,
        state=TrialState.FAILED,
        reward=PRUNED_REWARD,
        reason=reason,
        finished_at=time.time(),
        attempts=attempts,
    )


def _complete(setup: SearchSetup, record: TrialRecord) -> TrialRecord:
    """A child that trained as far as it goes, scored: COMPLETE, with its reward."""
    if setup.precisions and record.precision not in record.accuracy_at:
        raise AssertionError(f"trial {record.number}: completed without its accuracy at precision")
    reward = _reward(setup, record)
    return replace(record, state=TrialState.COMPLETE, finished_at=time.time(), reward=reward)


def _reuse(setup: SearchSetup, record: TrialRecord, earlier: TrialRecord) -> TrialRecord:
    """A network trained before (one network key: the same architecture, or another that
    computes the same function, at any precision): its stored accuracy at this trial's
    precision, this trial's hardware, no training."""
    # Its accuracy, not the rung accuracies: those rank the children of the batch that
    # trained them.
    accuracy = earlier.accuracy_at.get(record.precision, earlier.accuracy)
    reused = replace(
        record,
        state=TrialState.COMPLETE,
        accuracy=accuracy,
        float_accuracy=earlier.float_accuracy,
        accuracy_at=earlier.accuracy_at,
        epochs=earlier.epochs,
        val_images=earlier.val_images,
        finished_at=time.time(),
        attempts=0,
        reused_from=earlier.number,
    )
    return replace(reused, reward=_reward(setup, reused))


def _reward(setup: SearchSetup, record: TrialRecord) -> float:
    accuracy, metrics = record.accuracy, record.metrics
    assert accuracy is not None  # rewarded once trained
    if setup.rules.reward is not None:
        return setup.rules.reward(accuracy, metrics)
    if setup.rules.accuracy_only or "fps" not in metrics:
        return normalise(accuracy, *setup.reward.acc_bounds)
    return setup.reward(accuracy, metrics)
