"""The report's plots on hand-made trials: fronts, pick markers, pruned rug, a large run."""

from __future__ import annotations

import time

import numpy as np
from matplotlib.axes import Axes

from coexplore.report.plots import evolution_figure, figure_uri, funnel_figure, reward_figure
from coexplore.results.picks import Picks, pick
from coexplore.results.plots import pareto_figure
from coexplore.storage import TrialRecord, TrialState


def trial(number: int, state: TrialState, **metrics: float) -> TrialRecord:
    meets = state is TrialState.COMPLETE and metrics.get("fps", 0) >= 100
    accuracy = metrics.pop("accuracy", None)
    return TrialRecord(
        number=number, batch=number // 4, slot=number % 4, strategy="test", state=state,
        arch_key=f"a{number}", arch={"space": "chain", "layers": []}, hardware=None,
        metrics=metrics, meets_spec=meets, reward=-1.0 if state is TrialState.PRUNED
        else accuracy or 0.0, reason="", seed=number, started_at=0.0,
        finished_at=1.0, timings={}, accuracy=accuracy,
    )  # fmt: skip


def labels(ax: Axes) -> list[str]:
    return list(ax.get_legend_handles_labels()[1])


def test_front_line_joins_exactly_the_non_dominated_children() -> None:
    points = [(100, 0.9), (200, 0.8), (150, 0.7), (300, 0.6), (120, 0.95), (250, 0.5)]
    trials = [
        trial(i, TrialState.COMPLETE, fps=x, accuracy=y, gops_per_w=x / 10)
        for i, (x, y) in enumerate(points)
    ]
    fig, _ = pareto_figure(trials, Picks(None, None), spec_fps=100.0)
    line = next(line for line in fig.axes[0].lines if line.get_label() == "Pareto front")
    assert list(zip(line.get_xdata(), line.get_ydata(), strict=True)) == [
        (120, 0.95), (200, 0.8), (300, 0.6)
    ]  # fmt: skip
    assert line.get_drawstyle() == "steps-pre"


def test_one_marker_when_optsw_is_opthw_and_a_rug_for_pruned_children() -> None:
    trials = [
        trial(0, TrialState.COMPLETE, fps=150, accuracy=0.9, gops_per_w=20),
        trial(1, TrialState.COMPLETE, fps=120, accuracy=0.7, gops_per_w=10),
        trial(2, TrialState.PRUNED, fps=50, gops_per_w=5),
        trial(3, TrialState.COMPLETE, fps=60, accuracy=0.95, gops_per_w=8),  # misses spec
    ]
    picks = pick(trials, "fps", 0.01)
    assert picks.opt_sw is picks.opt_hw
    fig, _ = pareto_figure(trials, picks, spec_fps=100.0)
    found = labels(fig.axes[0])
    assert "OptSW = OptHW" in found and "OptSW" not in found
    assert {"pruned (not trained)", "trained, misses spec", "meets spec"} <= set(found)


def test_every_plot_renders_for_no_trials_and_for_a_large_run() -> None:
    empty: list[TrialRecord] = []
    for fig in (pareto_figure(empty, Picks(None, None), 0.0)[0], evolution_figure(empty),
                funnel_figure(empty), reward_figure(empty, 4)):  # fmt: skip
        assert figure_uri(fig).startswith("data:image/png;base64,")
    rng = np.random.default_rng(0)
    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED]
    large = [
        trial(i, states[i % 3], fps=float(rng.uniform(50, 500)), accuracy=float(rng.random()),
              gops_per_w=float(rng.uniform(1, 50)))
        for i in range(1500)
    ]  # fmt: skip
    start = time.perf_counter()
    picks = pick(large, "fps", 0.01)
    for fig in (pareto_figure(large, picks, 100.0)[0], evolution_figure(large),
                funnel_figure(large), reward_figure(large, 8)):  # fmt: skip
        figure_uri(fig)
    assert time.perf_counter() - start < 30
