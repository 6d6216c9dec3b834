"""Why children failed or were pruned, grouped by cause: counted for the summary and the report,
and compared by the early stop (`coexplore.search.failures`).

A reason says what went wrong and often which child it happened to: "no accuracy for
architecture index 1234", "loss 2.3e+04 above train.max_loss at epoch 3", "Tried to allocate
20.00 MiB", "2,391.2 FPS < spec 3000 FPS". Children that failed for one cause carry reasons that
differ only in such numbers and quoted names, so the cause of a reason is the reason with its
numbers written `#` and its quoted text `'...'`; a number glued to a word (`3x3`, `conv1`) or
after a colon (`accuracy.py:55`, a source line) is part of the words and stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from coexplore.storage import TrialRecord, TrialState

_QUOTED = re.compile(r"""(?<!\w)(['"])[^'"\n]*\1(?!\w)""")
_NUMBER = re.compile(r"(?<![\w.:])[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?(?![\w])", re.IGNORECASE)


def failure_cause(reason: str) -> str:
    """The cause a reason names, without what differs between children that failed alike.

    >>> failure_cause("InputError: t.csv: no accuracy for architecture index 1234 (at a.py:55)")
    'InputError: t.csv: no accuracy for architecture index # (at a.py:55)'
    >>> failure_cause("ValueError: bad op 'nor_conv_3x3' in cell 2")
    "ValueError: bad op '...' in cell #"
    """
    return _NUMBER.sub("#", _QUOTED.sub(r"\1...\1", reason))


@dataclass(frozen=True)
class CauseCount:
    """The children stopped by one cause: how many, and the first of their reasons."""

    cause: str
    example: str  # the first reason of the group, as it was stored
    count: int
    alike: int  # of `count`, the children whose reason differs from `example` (same cause)

    @property
    def text(self) -> str:
        """The example, with how many more reasons of the same cause it stands for."""
        return f"{self.example} (and {self.alike} like it)" if self.alike else self.example


def cause_counts(reasons: Iterable[str]) -> list[CauseCount]:
    """The reasons grouped by cause, most frequent first (ties: the first seen first)."""
    groups: dict[str, list[str]] = {}
    for reason in reasons:
        groups.setdefault(failure_cause(reason), []).append(reason)
    counts = [
        CauseCount(cause, found[0], len(found), sum(r != found[0] for r in found))
        for cause, found in groups.items()
    ]
    return sorted(counts, key=lambda c: -c.count)  # stable: ties keep their first-seen order


def failure_counts(trials: Iterable[TrialRecord]) -> list[tuple[str, int]]:
    """(reason, number of FAILED trials of its cause), most frequent cause first; a reason
    that stands for several alike says how many ("... (and 399 like it)")."""
    failed = (t.reason or "no reason stored" for t in trials if t.state is TrialState.FAILED)
    return [(c.text, c.count) for c in cause_counts(failed)]


def prune_counts(trials: Iterable[TrialRecord]) -> list[tuple[str, int]]:
    """(reason, number of PRUNED trials of its cause), as `failure_counts`."""
    pruned = (t.reason or "no reason stored" for t in trials if t.state is TrialState.PRUNED)
    return [(c.text, c.count) for c in cause_counts(pruned)]
