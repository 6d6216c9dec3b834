"""The sections of the report, each a function of the run: (anchor, heading, body HTML)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from coexplore.hardware.devices import model_note
from coexplore.report import page, plots, stages
from coexplore.report.hover import arch_text as arch_label  # one text for an architecture
from coexplore.report.rundata import RunView
from coexplore.results.failures import failure_counts
from coexplore.results.noise import Comparison
from coexplore.results.pareto import feasible_trials
from coexplore.results.picks import full_fidelity
from coexplore.results.writers import fidelity_summary
from coexplore.search.fidelity import Fidelity
from coexplore.storage import TrialRecord, TrialState

Section = tuple[str, str, str]
TOP_TRIALS = 15


def plural(count: int, noun: str) -> str:
    """'1 child', '2 children', '3 training epochs'."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}ren" if noun.endswith("child") else f"{count} {noun}s"


def _pick_text(t: TrialRecord | None) -> str:
    if t is None:
        return "none yet (no trained child meets the spec)"
    m = t.metrics
    return (
        f"trial {t.number}: accuracy {t.accuracy:.3f} ({t.precision}), {m['fps']:,.0f} FPS, "
        f"{m['gops_per_w']:.1f} GOPS/W, {m['fpgas']:.0f} FPGAs"
    )


def summary_section(view: RunView) -> Section:
    cfg, trials = view.config, view.trials
    status = {
        "finished": "finished",
        "stopped": "stopped early: its children kept failing alike (see Failed children)",
    }.get(view.status or "", "still running, or interrupted")
    latency = f", latency <= {cfg.spec.latency_ms:g} ms" if cfg.spec.latency_ms else ""
    fpgas = f", at most {cfg.spec.max_fpgas} FPGAs" if cfg.spec.max_fpgas else ""
    items = [
        ("run folder", str(view.run_dir.resolve())),
        ("status", f"{status}: {len(trials)} of {cfg.run.trials} trials stored"),
        ("strategy", f"{cfg.run.strategy} (seed {cfg.run.seed}, batches of {cfg.run.batch})"),
        ("search space", space_text(cfg.space)),
        ("dataset", cfg.data.dataset),
        ("training", training_text(cfg, trials)),
        ("FPGA pool", f"{view.pool.describe()}, link {cfg.hardware.link_gbps:g} Gb/s"),
        ("spec", f">= {cfg.spec.fps:g} FPS{latency}{fpgas} ({', '.join(cfg.hardware.precisions)})"),
        ("reward", f"alpha {cfg.reward.alpha:g} on accuracy, hardware metric {cfg.reward.metric}"),
        ("OptSW", _pick_text(view.picks.opt_sw)),
        ("OptHW", _pick_text(view.picks.opt_hw)),
        *noise_items(view),
    ]
    return "summary", "Summary", page.facts(items)


def training_text(cfg: Any, trials: Sequence[TrialRecord]) -> str:
    """What the children were trained: the epochs of a child, or with multi-fidelity the rungs
    and how many children each gave (children whose result was reused trained nothing)."""
    rungs = Fidelity.halving(cfg.train.epochs, cfg.fidelity.min_epochs, cfg.fidelity.eta).rungs
    if len(rungs) == 1:
        return f"{plural(rungs[0], 'epoch')} per child"
    got = fidelity_summary(list(trials), rungs)["children_by_epochs"]
    stopped = ", ".join(f"{plural(n, 'child')} {plural(e, 'epoch')}" for e, n in got.items())
    rung_list = " / ".join(str(r) for r in rungs)
    return (
        f"multi-fidelity: rungs of {rung_list} epochs, the best 1/{cfg.fidelity.eta} of each "
        f"rung going on; trained so far: {stopped or 'none'}"
    )


def noise_items(view: RunView) -> list[tuple[str, str]]:
    """How many images the accuracies rest on and whether OptSW and OptHW differ beyond the
    binomial noise: from picks.json when the search wrote it (it has the test accuracies),
    else on validation from the stored trials."""
    written = view.run_dir / "picks.json"
    notes: list[str] = []
    if written.is_file():
        with contextlib.suppress(ValueError, AttributeError, KeyError, TypeError, OSError):
            notes = list(json.loads(written.read_text()).get("accuracy_noise", {})["notes"])
    sw, hw = view.picks.opt_sw, view.picks.opt_hw
    images = sw.val_images if sw is not None else 0
    if not notes and sw is not None and hw is not None and images:
        assert sw.accuracy is not None and hw.accuracy is not None  # picks are trained
        comparison = Comparison("validation", images, sw.accuracy, hw.accuracy)
        notes = [f"validation accuracy rests on {images:,} images",
                 comparison.sentence("OptSW", "OptHW")]  # fmt: skip
    return [("accuracy noise", note) for note in notes]


def pareto_section(view: RunView) -> Section:
    trials = list(view.trials)
    feasible = feasible_trials(trials)
    full = full_fidelity(feasible)
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    drawn = sum("fps" in t.metrics for t in pruned)
    early = (
        f"{len(feasible) - len(full)} meet it but stopped at an early rung of multi-fidelity "
        "training (light blue: fewer epochs, so a lower accuracy), "
        if len(full) < len(feasible)
        else ""
    )
    caption = (
        f"{len(full)} trained children meet the spec (blue, the line is their Pareto front), "
        f"{early}{len(complete) - len(feasible)} trained children miss it (grey), "
        f"{plural(len(pruned), 'child')} pruned before training; {drawn} of those had a design "
        "and are marked x on the axis (they have no accuracy)."
    )
    hint = "Hover a point to see the child's architecture, hardware design and metrics."
    svg = plots.pareto_svg(trials, view.picks, view.config.spec.fps)
    body = page.paragraph(hint, "muted") + svg + page.paragraph(caption, "muted")
    return "pareto", "Pareto fronts: accuracy vs FPS and vs GOPS/W", body


def evolution_section(view: RunView) -> Section:
    figure = plots.evolution_figure(list(view.trials))
    caption = (
        "Left: the accuracy-vs-FPS front of the children that meet the spec, after growing "
        "numbers of trials. Right: the best such accuracy so far, and the size of the front."
    )
    body = page.image(plots.figure_uri(figure), "Pareto evolution") + page.paragraph(
        caption, "muted"
    )
    return "evolution", "Pareto front over the search", body


def funnel_section(view: RunView) -> Section:
    trials = list(view.trials)
    counts = "; ".join(f"{name}: {n}" for name, n in plots.funnel_counts(trials))
    body = page.image(plots.figure_uri(plots.funnel_figure(trials)), "search funnel")
    return "funnel", "Search funnel", body + page.paragraph(counts + ".", "muted")


def reward_section(view: RunView) -> Section:
    window = max(2, view.config.run.batch)
    figure = plots.reward_figure(list(view.trials), window)
    return "reward", "Reward", page.image(plots.figure_uri(figure), "reward curve")


def pick_names(view: RunView) -> dict[int, tuple[str, TrialRecord]]:
    """Trial number -> ("OptSW" / "OptHW" / "OptSW = OptHW", trial) for the run's picks."""
    named: dict[int, tuple[str, TrialRecord]] = {}
    for name, t in (("OptSW", view.picks.opt_sw), ("OptHW", view.picks.opt_hw)):
        if t is not None:
            earlier = named.get(t.number)
            named[t.number] = (f"{earlier[0]} = {name}" if earlier else name, t)
    return named


def stages_section(view: RunView) -> Section:
    named = pick_names(view)
    if not named:
        return "stages", "Per-FPGA stages", page.paragraph("No pick yet: no child meets the spec.")
    parts = [_pick_stages(view, name, t) for name, t in named.values()]
    return "stages", "Per-FPGA stages of OptSW and OptHW", "\n".join(parts)


def _pick_stages(view: RunView, names: str, trial: TrialRecord) -> str:
    title = f"{names}: trial {trial.number} ({arch_label(trial.arch)})"
    evaluation = view.evaluation(trial)
    if evaluation is None or not evaluation.stages:
        reason = evaluation.reason if evaluation else "no stored design"
        return page.subheading(title) + page.paragraph(f"cannot show: {reason}", "warn")
    figure = stages.stage_figure(evaluation, view.pool, view.precision)
    parts = [
        page.subheading(title),
        page.image(plots.figure_uri(figure), f"stages of trial {trial.number}"),
        stages.stage_table(evaluation, view.pool, view.precision),
        page.paragraph(stages.pipeline_text(evaluation)),
        page.paragraph(model_note(view.precision, view.pool)),
    ]
    stored_fps = trial.metrics.get("fps")
    if stored_fps is not None and abs(stored_fps - evaluation.fps) > 1e-6 * stored_fps:
        parts.append(
            page.paragraph(
                f"the run stored {stored_fps:,.1f} FPS but the design evaluates to "
                f"{evaluation.fps:,.1f} FPS now (device catalog or model changed?)",
                "warn",
            )
        )
    if evaluation.reason:
        parts.append(page.paragraph(f"re-evaluated design: {evaluation.reason}", "warn"))
    return "\n".join(parts)


TOP_COLUMNS = "trial|reward|accuracy|FPS|GOPS/W|pipe eff|power W|latency ms|FPGAs|meets spec"


def top_section(view: RunView) -> Section:
    named = pick_names(view)
    complete = [t for t in view.trials if t.state is TrialState.COMPLETE]
    ranked = sorted(complete, key=lambda t: (-(t.reward or 0.0), t.number))[:TOP_TRIALS]
    if not ranked:
        return "top", "Top trials", page.paragraph("No trained child yet.")
    rows = [_top_row(t, named.get(t.number, ("", t))[0]) for t in ranked]
    header = [*TOP_COLUMNS.split("|"), "pick", "architecture"]
    note = f"The {len(rows)} trained children with the highest reward (of {len(complete)})."
    table = page.table(header, rows, text_columns={len(header) - 2, len(header) - 1})
    return "top", "Top trials", page.paragraph(note, "muted") + table


def _top_row(t: TrialRecord, pick: str) -> list[object]:
    m = t.flat_metrics()  # the accuracy fields too

    def num(key: str, fmt: str) -> str:
        return format(m[key], fmt) if key in m else "-"

    reused = f" (result of trial {t.reused_from})" if t.reused_from is not None else ""
    return [
        t.number,
        f"{t.reward:.3f}" if t.reward is not None else "-",
        num("accuracy", ".3f"),
        num("fps", ",.0f"),
        num("gops_per_w", ".1f"),
        num("pipeline_efficiency", ".0%"),
        num("power_w", ".2f"),
        num("latency_ms", ".3f"),
        num("fpgas", ".0f"),
        "yes" if t.meets_spec else "no",
        pick,
        arch_label(t.arch) + reused,
    ]


def failures_section(view: RunView) -> Section:
    """Why children failed, most frequent reason first (a whole run failing alike is a setup
    problem: a missing dataset file, a broken install)."""
    counts = failure_counts(view.trials)
    if not counts:
        return "failures", "Failed children", page.paragraph("No child failed.", "muted")
    total = sum(n for _, n in counts)
    note = f"{plural(total, 'child')} failed, for {plural(len(counts), 'reason')}."
    table = page.table(["children", "reason"], [[n, r] for r, n in counts], text_columns={1})
    return "failures", "Failed children", page.paragraph(note, "muted") + table


def space_text(space: Any) -> str:
    """The search space and the [space] keys it reads, e.g. "chain (layers 6, stride_mode
    predictable)"."""
    from coexplore.spaces import SPACES

    keys = SPACES[space.name].settings if space.name in SPACES else ()
    settings = ", ".join(f"{k} {getattr(space, k) or 'default'}" for k in keys)
    return f"{space.name} ({settings})" if settings else space.name
