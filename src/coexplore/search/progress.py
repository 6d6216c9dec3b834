"""The search's progress display: trials done, pruned, trained, failed, and the picks so far."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from coexplore.config import Config
from coexplore.results.picks import pick
from coexplore.storage import TrialRecord, TrialState


class ProgressBar:
    """Trials done, pruned, trained, and the best OptSW / OptHW so far, on three short lines so
    that an 80-column terminal shows all of it (one long line gets cut to `s... pruned 1 ...`)."""

    def __init__(
        self, total: int, config: Config, trials: list[TrialRecord], enabled: bool
    ) -> None:
        self.config, self.trials = config, list(trials)
        self.progress = _Lines(
            TextColumn("[bold]search"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not enabled,
        )
        self.task = self.progress.add_task(self._text(), total=total, completed=len(self.trials))

    def __enter__(self) -> ProgressBar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, records: list[TrialRecord]) -> None:
        known = {t.number for t in self.trials}
        self.trials += [r for r in records if r.number not in known]
        self.progress.update(self.task, completed=len(self.trials), description=self._text())

    def _text(self) -> str:
        counts = {s: sum(t.state is s for t in self.trials) for s in TrialState}
        picks = pick(self.trials, self.config.reward.metric, self.config.picks.accuracy_gap)
        return (
            f"  pruned {counts[TrialState.PRUNED]}, trained {counts[TrialState.COMPLETE]}, "
            f"failed {counts[TrialState.FAILED]}\n"
            f"  OptSW {_short(picks.opt_sw)} | OptHW {_short(picks.opt_hw)}"
        )


class _Lines(Progress):
    """A progress display whose task description goes on its own lines below the bar."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            yield Text(task.description, no_wrap=True, overflow="ellipsis")


def _short(t: TrialRecord | None) -> str:
    if t is None:
        return "-"
    return f"{t.accuracy:.3f} @ {t.metrics['fps']:,.0f} FPS"
