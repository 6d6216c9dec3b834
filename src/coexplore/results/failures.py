"""Why children failed, counted for the summary and the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from coexplore.storage import TrialRecord, TrialState


def failure_counts(trials: Iterable[TrialRecord]) -> list[tuple[str, int]]:
    """(reason, number of FAILED trials with it), most frequent first."""
    reasons = Counter(
        t.reason or "no reason stored" for t in trials if t.state is TrialState.FAILED
    )
    return reasons.most_common()
