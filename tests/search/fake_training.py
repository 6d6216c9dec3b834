"""A fake trainer for loop tests: deterministic accuracy from the architecture, no torch work.

Each call appends the job's seed to the file named by COEXPLORE_FAKE_LOG (when set), so tests
can count trainings, including across processes; COEXPLORE_FAKE_STALL_AFTER=N makes every
training after the N-th hang (a search that cannot finish before the test kills it).
"""

import os
import time
from pathlib import Path

from coexplore.search.reward import PRUNED_REWARD
from coexplore.search.strategy import Outcome
from coexplore.slow.jobs import JobResult, ScoreJob, ScoreResult, TrainJob
from coexplore.slow.trainer import TrainResult
from coexplore.storage import TrialState
from coexplore.storage.records import HARDWARE_METRICS


def accuracy_of(arch_json: dict) -> float:
    kernels = [layer["kernel"] for layer in arch_json["layers"]]
    return min(0.99, 0.6 + 0.08 * kernels.count(3) + 0.01 * len(kernels))


# What a precision costs a fake child's accuracy (its engine's arithmetic): fixed8 a point.
DROP = {"fp32": 0.0, "fixed16": 0.0, "fixed8": 0.01}


def at_precisions(accuracy: float, precisions: tuple[str, ...]) -> dict[str, float]:
    return {p: accuracy - DROP[p] for p in precisions}


def fake_train(job: TrainJob) -> JobResult:
    log = os.environ.get("COEXPLORE_FAKE_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{job.seed}\n")
        # COEXPLORE_FAKE_STALL_AFTER=N: trainings after the N-th hang, so a test that kills the
        # search "mid-search" finds it there however slow the machine is.
        stall_after = int(os.environ.get("COEXPLORE_FAKE_STALL_AFTER", "0"))
        if stall_after and len(Path(log).read_text().split()) > stall_after:
            time.sleep(3600)
    time.sleep(float(os.environ.get("COEXPLORE_FAKE_SLEEP", "0")))
    acc = accuracy_of(job.arch_json)
    scored = at_precisions(acc, job.precisions)
    return JobResult(TrainResult(True, acc, (acc,), (0.1,), 0.01, 1), accuracy_at=scored)


def rung_accuracy(arch_json: dict, epochs: int) -> float:
    """The fake learning curve: rises with epochs, ordered by architecture at every epoch."""
    return accuracy_of(arch_json) * (1.0 - 0.2 / epochs)


def fake_rung_train(job: TrainJob) -> JobResult:
    """A fake trainer that honours multi-fidelity jobs: it goes on from `resume_from` (the
    epochs done, as text) to `until_epoch` and logs one line "seed:epoch" per epoch it trains,
    so tests can check that no epoch is trained twice."""
    done = int(job.resume_from.decode()) if job.resume_from else 0
    until = job.until_epoch or job.train.epochs
    log = os.environ.get("COEXPLORE_FAKE_LOG")
    if log:
        with open(log, "a") as handle:
            handle.writelines(f"{job.seed}:{epoch}\n" for epoch in range(done + 1, until + 1))
    time.sleep(float(os.environ.get("COEXPLORE_FAKE_SLEEP", "0")))
    acc = rung_accuracy(job.arch_json, until)
    state = str(until).encode() if until < job.train.epochs else b""
    curve = tuple(rung_accuracy(job.arch_json, e) for e in range(1, until + 1))
    result = TrainResult(True, acc, curve, (0.1,) * until, 0.01, until, state=state)
    scored = at_precisions(acc, job.precisions)
    return JobResult(
        result, val_images=1000, accuracy_at=scored, scored_images=1000 if scored else 0
    )


def fake_score(job: ScoreJob) -> ScoreResult:
    """Scores a fake child from its stored state (the epochs it trained, as text) on
    `job.images` images (1000 when all): its rung accuracy less the precision's drop."""
    acc = rung_accuracy(job.arch_json, int(job.state.decode()))
    return ScoreResult(at_precisions(acc, job.precisions), job.images or 1000, 0.0)


def told(reward: float) -> Outcome:
    """What a bare ask/tell driver tells of a child: PRUNED at the pruned reward (-1), else
    COMPLETE, meeting the spec, with the reward as its accuracy and as every hardware metric
    (so a multi-objective strategy sees the pair (reward, reward))."""
    if reward <= PRUNED_REWARD:
        return Outcome(TrialState.PRUNED, PRUNED_REWARD)
    metrics = dict.fromkeys(HARDWARE_METRICS, reward)
    return Outcome(TrialState.COMPLETE, reward, metrics, meets_spec=True, accuracy=reward)
