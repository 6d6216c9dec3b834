"""Multi-fidelity training: successive halving over the children of one batch.

Every child that passes the fast level is first trained `rungs[0]` epochs. At each rung the
best 1/eta of the children that reached it, ranked by the strategy's own criterion at that
rung's accuracy, go on to the next rung, continuing from their weights; the others finish there.
Two criteria (docs/search.md, "Promotion rule"): a scalar-reward strategy ranks by its reward
(`by_score`, at least one promoted); a multi-objective one (`coexplore`, `nsga2`, `motpe`, which
have no scalar reward of their own) ranks by Pareto front in (accuracy, hardware metric) among
spec-meeting children, then crowding distance (`by_front`, at least two promoted, so a front
keeps both of its ends). The learning-rate schedule spans the last rung, so a child trained in
pieces ends exactly where training straight through would (`coexplore.slow.trainer.train_child`).

Every trial stores the epochs it got (`TrialRecord.epochs`) and its validation accuracy at the
end of each rung it reached (`TrialRecord.rung_accuracies`); `TrialRecord.accuracy` is the last
one. Each training job is one epoch, and a RUNNING child is stored with its weights after every
epoch, so a killed search loses only the epochs in flight and a resumed child goes on from its
last stored epoch. The rung accuracies are what promotions are decided on, so a resumed batch
decides them again from storage and gets the same answer: no epoch is lost or trained twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from coexplore.errors import InputError
from coexplore.results.pareto import pareto_fronts
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
            raise InputError(f"fidelity rungs must be increasing epochs >= 1, got {self.rungs}")
        if self.eta < 2:
            raise InputError(f"fidelity eta must be >= 2, got {self.eta}")

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
        self, reached: Sequence[TrialRecord], epochs: int, rank: Ranking, minimum: int = 1
    ) -> set[int]:
        """Numbers of the children that go on from the rung ending at `epochs` (none after
        the last): the first `len(reached) // eta` (at least `minimum`, at most all) in the
        order `rank` puts them, each seen as it stood at that rung."""
        if epochs == self.rungs[-1] or not reached:
            return set()
        ranked = rank([at_rung(t, epochs) for t in reached])
        count = min(len(reached), max(minimum, len(reached) // self.eta))
        return {t.number for t in ranked[:count]}


Ranking = Callable[[Sequence[TrialRecord]], list[TrialRecord]]
"""Children (as they stood at a rung) in promotion order, best first."""


def by_score(score: Callable[[TrialRecord], float]) -> Ranking:
    """Highest score first; ties go to the earlier trial."""

    def rank(records: Sequence[TrialRecord]) -> list[TrialRecord]:
        return sorted(records, key=lambda t: (-score(t), t.number))

    return rank


def by_front(metric: str) -> Ranking:
    """Multi-objective order: spec-meeting children first, by Pareto front in (accuracy,
    `metric`), both maximised; within a front the ends first, then the most isolated (NSGA-II
    crowding distance), ties to the more accurate, then the earlier trial. Children that miss
    the spec (trained by strategies that do not prune) follow, most accurate first."""

    def rank(records: Sequence[TrialRecord]) -> list[TrialRecord]:
        meets = [t for t in records if t.meets_spec and metric in t.metrics]
        rest = [t for t in records if t not in meets]
        out: list[TrialRecord] = []
        for front in pareto_fronts([(_accuracy(t), t.metrics[metric]) for t in meets]):
            crowding = _crowding([(_accuracy(meets[i]), meets[i].metrics[metric])
                                  for i in front])  # fmt: skip
            order = sorted(
                range(len(front)),
                key=lambda j: (-crowding[j], -_accuracy(meets[front[j]]), meets[front[j]].number),
            )
            out += [meets[front[j]] for j in order]
        return out + sorted(rest, key=lambda t: (-_accuracy(t), t.number))

    return rank


def _crowding(points: list[tuple[float, float]]) -> list[float]:
    """NSGA-II crowding distance of each point of one front: infinite at either end of each
    coordinate, else the normalised side lengths of the box its neighbours span. A repeated
    point counts once (its first copy); the other copies come last (-1), so two copies of
    one end never fill the places of both ends."""
    distinct = sorted(set(points))
    distance = dict.fromkeys(distinct, 0.0)
    for axis in (0, 1):
        order = sorted(distinct, key=lambda p: (p[axis], p))
        span = order[-1][axis] - order[0][axis]
        distance[order[0]] = distance[order[-1]] = float("inf")
        for before, p, after in zip(order, order[1:], order[2:], strict=False):
            if span > 0:
                distance[p] += (after[axis] - before[axis]) / span
    first = {p: points.index(p) for p in distinct}
    return [distance[p] if first[p] == i else -1.0 for i, p in enumerate(points)]


def _accuracy(record: TrialRecord) -> float:
    assert record.accuracy is not None  # ranked at a rung it reached: it has one
    return record.accuracy


def at_rung(record: TrialRecord, epochs: int) -> TrialRecord:
    """The record as it stood at the rung ending at `epochs`: its accuracy then (scores are
    computed from it)."""
    return replace(record, accuracy=record.rung_accuracies[epochs])
