"""What a run's precisions gave: every child trained fully, at float and at each precision, with
the FPS of its best design at each precision; the cost of scoring; the hypervolume of the
(network, precision) front against the front of the run's first precision alone.

    .venv/bin/python bench/precision_table.py RUN_DIR

A network's accuracy at each precision is the one the run stored (`accuracy_at`: every child is
scored at every precision of its run); its FPS at a precision is the fast level's best design
for it there (the run's own design where the run has that pair, else the exact explorer on the
run's pool and spec). Prints, in order:
- a table: trial, pick (OptSW / OptHW), the float accuracy, and per precision the accuracy and
  the FPS; then the largest |precision - float| per precision;
- `scoring cost: <seconds> s of scoring against <seconds> s of training (<ratio> %)`: the
  seconds the run's children spent being scored at precision (`score_seconds`) against their
  training (`train_seconds`);
- `hypervolume fps: pairs <hv> <first precision> only <hv> (<ratio>x)`: accuracy x FPS above
  (spec FPS, reward.acc_bounds low), over the children trained fully.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coexplore.config import parse_config
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Precision, Spec
from coexplore.problem import dataset_shape, make_pool, make_space, make_spec
from coexplore.results.pareto import hypervolume, reference_point
from coexplore.results.picks import full_fidelity, pick
from coexplore.spaces.precision import split_json
from coexplore.storage import DB_NAME, RunStorage, TrialRecord, TrialState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    run_dir = parser.parse_args().run_dir
    with RunStorage.open(run_dir / DB_NAME) as storage:
        config = parse_config(storage.config())
        trials = storage.trials()
    precisions = config.hardware.precisions
    full = full_fidelity([t for t in trials if t.state is TrialState.COMPLETE and t.accuracy_at])
    networks = {t.network_key: t for t in full}  # one row per network trained fully
    fps = _fps_at(config, trials, list(networks.values()), precisions)
    picks = pick(trials, config.reward.metric, config.picks.accuracy_gap)
    names: dict[int, str] = {}
    for label, chosen in (("OptSW", picks.opt_sw), ("OptHW", picks.opt_hw)):
        if chosen is not None:
            names[chosen.number] = "+".join(filter(None, (names.get(chosen.number), label)))
    header = "trial  pick        float  " + "  ".join(f"{p:>8} {'FPS':>7}" for p in precisions)
    print(header)
    worst = dict.fromkeys(precisions, 0.0)
    for key, t in sorted(networks.items(), key=lambda kv: -kv[1].float_accuracy):
        cells = []
        for p in precisions:
            accuracy = t.accuracy_at[p]
            worst[p] = max(worst[p], abs(accuracy - t.float_accuracy))
            cells.append(f"{accuracy:8.4f} {fps[key][p]:7,.0f}")
        tag = _pick_of(t, trials, names)
        print(f"{t.number:5d}  {tag:<10} {t.float_accuracy:6.4f}  " + "  ".join(cells))
    for p in precisions:
        print(f"largest |{p} - float|: {100 * worst[p]:.2f} points over {len(networks)} networks")
    scored = sum(t.timings.get("score_seconds", 0.0) for t in trials)
    trained = sum(t.timings.get("train_seconds", 0.0) for t in trials)
    print(f"scoring cost: {scored:.1f} s of scoring against {trained:.1f} s of training "
          f"({100 * scored / max(trained, 1e-9):.1f} %)")  # fmt: skip
    reference = reference_point("fps", config.spec.fps, config.reward.acc_bounds[0])
    pairs = [(fps[k][p], t.accuracy_at[p]) for k, t in networks.items() for p in precisions]
    first = [(fps[k][precisions[0]], t.accuracy_at[precisions[0]]) for k, t in networks.items()]
    both, alone = hypervolume(pairs, reference), hypervolume(first, reference)
    print(f"hypervolume fps: pairs {both:.4g} {precisions[0]} only {alone:.4g} "
          f"({both / alone if alone else float('inf'):.3f}x)")  # fmt: skip


def _pick_of(t: TrialRecord, trials: list[TrialRecord], names: dict[int, str]) -> str:
    """OptSW / OptHW where a pick is this network (at any precision)."""
    tags = {names[s.number] + f" {s.precision}" for s in trials if s.number in names
            and s.network_key == t.network_key}  # fmt: skip
    return ", ".join(sorted(tags))


def _fps_at(
    config, trials: list[TrialRecord], networks: list[TrialRecord], precisions: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """network key -> precision -> FPS of its best design there."""
    space = make_space(config)
    shape, classes = dataset_shape(config)
    pool, spec = make_pool(config), make_spec(config)
    # the best design whatever the spec (a pair below it is outside the hypervolume anyway)
    explorers = {
        p: OptimalExplorer(pool, Spec(max_fpgas=spec.max_fpgas), Precision(p)) for p in precisions
    }
    stored = {(t.network_key, t.precision): t.metrics.get("fps") for t in trials}
    inner = getattr(space, "inner", space)
    out: dict[str, dict[str, float]] = {}
    for t in networks:
        arch = inner.from_json(split_json(t.arch)[0])
        workload = inner.workload(arch, shape, classes)
        out[t.network_key] = {
            p: stored.get((t.network_key, p)) or _explore(explorers[p], workload)
            for p in precisions
        }
    return out


def _explore(explorer: OptimalExplorer, workload) -> float:
    result = explorer.explore(workload)
    return result.evaluation.fps if result.evaluation else 0.0


if __name__ == "__main__":
    main()
