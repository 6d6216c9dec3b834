"""A fake trainer for loop tests: deterministic accuracy from the architecture, no torch work.

Each call appends the job's seed to the file named by COEXPLORE_FAKE_LOG (when set), so tests
can count trainings, including across processes; COEXPLORE_FAKE_STALL_AFTER=N makes every
training after the N-th hang (a search that cannot finish before the test kills it).
"""

import os
import time
from pathlib import Path

from coexplore.search.jobs import JobResult, TrainJob
from coexplore.slow.trainer import TrainResult


def accuracy_of(arch_json: dict) -> float:
    kernels = [layer["kernel"] for layer in arch_json["layers"]]
    return min(0.99, 0.6 + 0.08 * kernels.count(3) + 0.01 * len(kernels))


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
    return JobResult(TrainResult(True, acc, (acc,), (0.1,), 0.01, 1))
