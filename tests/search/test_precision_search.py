"""Precision as a searched choice (docs/fixed-point.md, "Precision in a search"): a run with
several `hardware.precisions` searches (network, precision) pairs; a network trains once and is
scored at every precision, so its pair at another precision costs no training; each child's
accuracy is the one at its design's precision, its float accuracy kept beside; children stopped
at an early rung are scored from their stored weights on fewer images."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from fake_training import DROP, fake_rung_train, fake_score, fake_train, rung_accuracy

from coexplore import wiring as run
from coexplore.config import ConfigError, load_config, to_dict
from coexplore.executors import LocalExecutor
from coexplore.search.loop import run_search
from coexplore.search.strategies.frontier import FrontierStrategy
from coexplore.search.strategy import Candidate, Outcome
from coexplore.spaces.precision import AtPrecision, PrecisionSpace
from coexplore.storage import RunStorage, TrialState

BOTH = ("fixed16", "fixed8")


def _run(tmp_path: Path, train_fn=fake_train, **overrides):
    base = {"run.trials": 24, "run.batch": 4, "spec.fps": 2000.0, "hardware.precisions": BOTH}
    config = load_config("quick", overrides={**base, **overrides})
    with RunStorage.create(tmp_path / run.DB_NAME, to_dict(config)) as storage:
        setup = dataclasses.replace(run.build_setup(config), train_fn=train_fn, score_fn=fake_score)
        run_search(setup, storage, LocalExecutor())
        return setup, storage.trials()


def test_several_precisions_make_a_space_of_pairs_with_a_design_at_each(tmp_path):
    setup, trials = _run(tmp_path, **{"run.strategy": "random", "space.layers": 1})
    assert isinstance(setup.space, PrecisionSpace) and setup.space.precisions == BOTH
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert {t.precision for t in complete} == set(BOTH)
    for t in complete:
        assert t.arch["precision"] == t.precision  # the pair's JSON names it
        assert t.accuracy == t.accuracy_at[t.precision] == t.float_accuracy - DROP[t.precision]
        assert set(t.accuracy_at) == set(BOTH)  # scored at every precision of the run
    # the same network at both precisions: fixed8 packs two MACs per DSP, so it is no slower
    by_network = {}
    for t in complete:
        by_network.setdefault(t.network_key, {})[t.precision] = t.metrics["fps"]
    pairs = [fps for fps in by_network.values() if len(fps) == 2]
    assert pairs and all(p["fixed8"] >= p["fixed16"] for p in pairs)


def test_a_network_trains_once_for_all_its_precisions(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("COEXPLORE_FAKE_LOG", str(log))
    _, trials = _run(tmp_path, **{"run.strategy": "random", "space.layers": 1})  # 16 networks
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len(log.read_text().split()) == len({t.network_key for t in complete})
    reused = [t for t in complete if t.reused_from is not None]
    across = [t for t in reused if trials[t.reused_from].precision != t.precision]
    assert across, "a network trained at one precision is reused at the other"
    for t in across:
        assert t.attempts == 0 and t.accuracy == trials[t.reused_from].accuracy_at[t.precision]


def test_children_stopped_early_are_scored_from_their_weights_on_fewer_images(tmp_path):
    overrides = {"train.epochs": 4, "fidelity.min_epochs": 1, "run.batch": 8,
                 "fidelity.early_precision_images": 300}  # fmt: skip
    _, trials = _run(tmp_path, fake_rung_train, **overrides)
    trained = [t for t in trials if t.state is TrialState.COMPLETE and t.reused_from is None]
    assert {t.epochs for t in trained} >= {1, 4}
    for t in trained:
        assert t.accuracy == rung_accuracy(t.arch, t.epochs) - DROP[t.precision]
        assert t.val_images == (1000 if t.epochs == 4 else 300)
        assert "score_seconds" in t.timings


def test_the_default_strategy_learns_a_networks_other_precisions_without_asking(tmp_path):
    setup, _ = _run(tmp_path, **{"run.trials": 8})
    strategy = setup.strategy
    assert isinstance(strategy, FrontierStrategy)
    space = setup.space
    arch = AtPrecision(space.sample(np.random.default_rng(7)).arch, "fixed16")
    outcome = Outcome(TrialState.COMPLETE, 0.5, {"fps": 1.0}, True, 0.91,
                      {"fixed16": 0.91, "fixed8": 0.87})  # fmt: skip
    strategy.tell([Candidate(arch)], [outcome])
    sibling = space.encode(space.at(arch, "fixed8"))
    member = strategy.members[strategy.keys[sibling]]
    assert strategy.known[member] == 0.87
    mean, std = strategy._predict([member])  # the surrogate's view of it: exact
    assert (float(mean[0]), float(std[0])) == (0.87, 0.0)
    blob = strategy.state_bytes()
    strategy.known.clear()
    strategy.load_state(blob)
    assert strategy.known[member] == 0.87  # exact resume


def test_a_table_of_float_accuracies_takes_one_precision():
    config = load_config("nb201", overrides={"hardware.precisions": list(BOTH)})
    with pytest.raises(ConfigError, match="precision is a hardware choice there"):
        run.check_config(config)


def test_one_precision_keeps_the_space_and_its_json():
    config = load_config("quick", overrides={"hardware.precisions": ["fixed8"]})
    setup = run.build_setup(config)
    assert not isinstance(setup.space, PrecisionSpace) and setup.precision == "fixed8"
    arch = setup.space.sample(np.random.default_rng(0))
    assert "precision" not in setup.space.to_json(arch)


@pytest.mark.slow
def test_the_quick_preset_searches_both_precisions_for_real(tmp_path):
    """Real training and real fixed-point scoring: trials.csv has each completed child's
    precision, its accuracy there and its float accuracy; fixed16 loses nothing measurable."""
    import csv

    from typer.testing import CliRunner

    from coexplore.cli import app

    out = tmp_path / "quick"
    argv = ["search", "--preset", "quick", "--out", str(out), "--set", "run.trials=8"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    rows = [r for r in csv.DictReader((out / "trials.csv").open()) if r["state"] == "complete"]
    assert {"precision", "accuracy", "float_accuracy"} <= set(rows[0])
    assert {r["precision"] for r in rows} == set(BOTH)
    for r in rows:
        accuracy, floated = float(r["accuracy"]), float(r["float_accuracy"])
        assert 0.0 <= accuracy <= 1.0
        if r["precision"] == "fixed16":
            assert abs(accuracy - floated) <= 0.01  # 270 images: about one image in 100
    assert "prec" in result.output and "float" in result.output  # the summary's columns
