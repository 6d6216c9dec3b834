"""Comparing search strategies as the paper does: run each strategy on one config over several
seeds, then tabulate and plot them side by side (`coexplore compare`).

`runs` runs one strategy and seed into its own run folder (resumable); `summary` turns a run's
trials into the paper-style row and writes the table (Markdown, CSV); `plots` overlays the
fronts and the hypervolume curves.
"""

from coexplore.compare.runs import StrategyRun, run_strategy, strategy_names
from coexplore.compare.summary import RunSummary, hypervolume_curve, summarise

__all__ = [
    "RunSummary",
    "StrategyRun",
    "hypervolume_curve",
    "run_strategy",
    "strategy_names",
    "summarise",
]
