"""Children that keep failing: watched during a search so that one whose children keep failing
for the same cause stops early, saying why, instead of spending its whole budget on trainings
that cannot succeed (a missing dataset file, a broken install, a node that keeps killing its
workers). Reasons are compared by cause (`coexplore.results.failures.failure_cause`): two
children whose reasons differ only in the architecture index or epoch they name failed alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from coexplore.errors import SearchStopped
from coexplore.results.failures import failure_cause
from coexplore.storage import TrialRecord, TrialState


def _trained(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Records of children that were really trained here (not pruned, not a reused repeat)."""
    done = (TrialState.COMPLETE, TrialState.FAILED)
    return [r for r in records if r.state in done and r.attempts > 0]


class FailureWatch:
    """Decides, after each batch, whether the search should stop. It stops when

    - no child has trained successfully yet and every training so far (two at least) failed
      for one cause: the cause is almost surely the setup, not the children; or
    - the last `limit` trainings in a row failed for one cause (0: never stop for this).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cause = ""  # of the current run of alike failures
        self.reason = ""  # the first reason of that run, as stored
        self.streak = 0  # trainings in that run
        self.alike = 0  # of those, the ones whose reason differs from `reason`
        self.trained = 0
        self.succeeded = False

    def check(self, records: list[TrialRecord], batch: int) -> None:
        """Raise SearchStopped when the trainings seen so far call for it."""
        for record in _trained(records):
            self.trained += 1
            if record.state is TrialState.COMPLETE:
                self.succeeded, self.cause, self.streak = True, "", 0
            elif self.streak and failure_cause(record.reason) == self.cause:
                self.streak += 1
                self.alike += record.reason != self.reason
            else:
                self.cause, self.reason = failure_cause(record.reason), record.reason
                self.streak, self.alike = 1, 0
        from_start = not self.succeeded and self.trained >= 2 and self.streak == self.trained
        in_a_row = self.limit > 0 and self.streak >= self.limit
        if from_start or in_a_row:
            alike = f" (and {self.alike} like it)" if self.alike else ""
            raise SearchStopped(
                f"search stopped after batch {batch + 1}: the last {self.streak} trained children "
                f"all failed with: {self.reason}{alike}"
            )
