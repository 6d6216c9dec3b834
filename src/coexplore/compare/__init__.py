"""Comparing search strategies (SPEC §6): run each method on one config over several seeds,
then tabulate and plot them side by side (`coexplore compare`).

`runs` runs one method and seed into its own run folder (resumable); `summary` turns a run's
trials into the paper-style row and writes the table (Markdown, CSV); `plots` overlays the
fronts and the hypervolume curves.
"""

from coexplore.compare.runs import METHODS, MethodRun, run_method
from coexplore.compare.summary import RunSummary, hypervolume_curve, summarise

__all__ = ["METHODS", "MethodRun", "RunSummary", "hypervolume_curve", "run_method", "summarise"]
