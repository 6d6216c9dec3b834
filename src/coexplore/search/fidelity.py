"""Multi-fidelity training: successive halving over the children of one batch.

Every child that passes the fast level is first trained `rungs[0]` epochs. At each rung the
best 1/eta of the children that reached it (at least one), ranked by the strategy's own reward
at that rung's accuracy, go on to the next rung, continuing from their weights; the others
finish there. The learning-rate schedule spans the last rung, so a child trained in pieces ends
exactly where training straight through would (`coexplore.slow.trainer.train_child`).

Every trial stores the epochs it got (`metrics["epochs"]`) and its validation accuracy at the
end of each rung it reached (`metrics["accuracy_<E>ep"]`); `metrics["accuracy"]` is the last
one. Each training job is one epoch, and a RUNNING child is stored with its weights after every
epoch, so a killed search loses only the epochs in flight and a resumed child goes on from its
last stored epoch. The rung accuracies are what promotions are decided on, so a resumed batch
decides them again from storage and gets the same answer: no epoch is lost or trained twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from coexplore.storage import TrialRecord


@dataclass(frozen=True)
class Fidelity:
    """The rungs: cumulative training epochs at the end of each, ending at the full schedule.

    >>> Fidelity.halving(epochs=6, min_epochs=1, eta=2).rungs
    (1, 3, 6)
    >>> Fidelity.halving(epochs=6, min_epochs=0, eta=2).rungs  # off: one rung
    (6,)
    """

    rungs: tuple[int, ...]
    eta: int = 2

    def __post_init__(self) -> None:
        if not self.rungs or self.rungs[0] < 1 or list(self.rungs) != sorted(set(self.rungs)):
            raise ValueError(f"fidelity rungs must be increasing epochs >= 1, got {self.rungs}")
        if self.eta < 2:
            raise ValueError(f"fidelity eta must be >= 2, got {self.eta}")

    @classmethod
    def halving(cls, epochs: int, min_epochs: int, eta: int) -> Fidelity:
        """Rungs epochs, epochs // eta, epochs // eta**2, ... down to `min_epochs` (0: off)."""
        rungs = [epochs]
        while min_epochs > 0 and rungs[0] // eta >= min_epochs:
            rungs.insert(0, rungs[0] // eta)
        return cls(tuple(rungs), eta)

    @property
    def on(self) -> bool:
        return len(self.rungs) > 1

    def promote(
        self, reached: Sequence[TrialRecord], epochs: int, score: Callable[[TrialRecord], float]
    ) -> set[int]:
        """Numbers of the children that go on from the rung ending at `epochs` (none after
        the last): the best `len(reached) // eta` (at least one) by `score` at that rung."""
        if epochs == self.rungs[-1] or not reached:
            return set()
        key = accuracy_key(epochs)
        ranked = sorted(reached, key=lambda t: (-score(at_rung(t, key)), t.number))
        return {t.number for t in ranked[: max(1, len(reached) // self.eta)]}


def accuracy_key(epochs: int) -> str:
    """The metric holding a child's validation accuracy after `epochs` epochs."""
    return f"accuracy_{epochs}ep"


def at_rung(record: TrialRecord, key: str) -> TrialRecord:
    """The record as it stood at a rung: its accuracy then (scores are computed from it)."""
    return replace(record, metrics={**record.metrics, "accuracy": record.metrics[key]})


def epochs_of(record: TrialRecord) -> int:
    """Training epochs a child got (0: none yet)."""
    return int(record.metrics.get("epochs", 0))


def full_fidelity(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials trained longest: only their accuracies are compared with each other
    (a child stopped at an early rung has a lower accuracy for it). A trial without an
    epoch count (a table look-up, a reuse stored by an older version) counts as trained fully."""
    most = max((epochs_of(t) for t in trials), default=0)
    return [t for t in trials if "epochs" not in t.metrics or epochs_of(t) == most]
