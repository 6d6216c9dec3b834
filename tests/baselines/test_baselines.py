"""What each baseline means: NAS never prunes, hardware-aware NAS keeps its hardware, the soft
reward is MnasNet's, NSGA-II is told its two objectives, exhaustive covers the space."""

import json
from itertools import combinations, permutations

import numpy as np
import optuna
import pytest
from baseline_helpers import make_setup, strategy_context

from coexplore import wiring as run
from coexplore.config import to_dict
from coexplore.executors import LocalExecutor
from coexplore.fast.optimal import OptimalExplorer
from coexplore.hardware.devices import Spec
from coexplore.hardware.pipeline import HardwareDesign, StageDesign, evaluate_design
from coexplore.search.loop import run_search
from coexplore.search.reward import normalise
from coexplore.search.strategies import build_strategy
from coexplore.search.strategies.exhaustive import ExhaustiveStrategy
from coexplore.spaces import ChainSpace
from coexplore.storage import RunStorage, TrialState


def _search(tmp_path, case, **overrides):
    config, setup = make_setup(case, **overrides)
    with RunStorage.create(tmp_path / f"{case}.db", to_dict(config)) as storage:
        run_search(setup, storage, LocalExecutor())
        return config, setup, storage.trials()


def test_nas_trains_every_child_and_rewards_accuracy_only(tmp_path):
    config, _, trials = _search(tmp_path, "nas", **{"spec.fps": 2600.0, "run.trials": 24})
    assert not [t for t in trials if t.state is TrialState.PRUNED]
    misses = [t for t in trials if not t.meets_spec]
    assert misses and all(t.state is TrialState.COMPLETE and "fps" in t.metrics for t in misses)
    for t in trials:
        assert t.reward == pytest.approx(normalise(t.accuracy, *config.reward.acc_bounds))


def _pairs(design):
    return sorted((s.device, tuple(vars(s.tiling).values())) for s in design.stages)


def test_hwnas_designs_only_reuse_the_fixed_fpgas_and_tilings(tmp_path):
    _, setup, trials = _search(tmp_path, "hwnas", **{"spec.fps": 1500.0})
    assert any(t.state is TrialState.PRUNED for t in trials)
    assert {t.precision for t in trials} == {"fixed16", "fixed8"}  # one fixed design for each
    for t in trials:
        if t.hardware is None:
            continue
        fixed = _pairs(setup.explorer_for(t.precision).design)
        used = _pairs(HardwareDesign.from_json(t.hardware))
        assert all(used.count(p) <= fixed.count(p) for p in used), (used, fixed)


def _brute_fixed(workload, fixed, pool):
    """Best (FPS, then least power) over every partition and ordered choice of fixed FPGAs."""
    n, best = len(workload), None
    for groups in range(1, len(fixed.stages) + 1):
        for cut in combinations(range(1, n), groups - 1):
            bounds = [0, *cut, n]
            for slots in permutations(fixed.stages, groups):
                stages = tuple(
                    StageDesign(s.device, bounds[g], bounds[g + 1] - 1, s.tiling)
                    for g, s in enumerate(slots)
                )
                ev = evaluate_design(workload, HardwareDesign(stages, fixed.precision), pool)
                key = (round(ev.fps, 6), -round(ev.power_w, 9))
                if ev.feasible and (best is None or key > best):
                    best = key
    return best


@pytest.mark.parametrize("seed", range(16))
def test_fixed_pipeline_explorer_equals_brute_force(seed):
    config, setup = make_setup("hwnas")
    explorer = setup.explorer
    arch = setup.space.sample(np.random.default_rng(seed))
    workload = setup.workload(arch)
    result = explorer.explore(workload, Spec())
    expected = _brute_fixed(workload, explorer.design, run.make_pool(config))
    assert (round(result.evaluation.fps, 6), -round(result.evaluation.power_w, 9)) == expected
    best = OptimalExplorer(run.make_pool(config), Spec()).explore(workload)
    assert result.evaluation.fps <= best.evaluation.fps * (1 + 1e-9)


def test_hwnas_fixes_the_optimal_design_of_its_reference(tmp_path):
    reference = {"space": "chain", "layers": [{"kernel": 1, "filters": 24}] * 4}
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(reference))
    config, setup = make_setup("hwnas", **{"hwnas.reference": str(path)})
    workload = setup.space.workload(setup.space.from_json(reference), (1, 8, 8), 10)
    optimal = OptimalExplorer(run.make_pool(config), Spec()).explore(workload)
    assert setup.explorer.design == optimal.design
    fixed = setup.explorer.explore(workload, Spec())
    assert fixed.evaluation.fps == pytest.approx(optimal.evaluation.fps)
    _, default = make_setup("hwnas")
    assert default.explorer.design != optimal.design  # the middle-of-the-space one


def test_hwnas_reference_file_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.json"):
        make_setup("hwnas", **{"hwnas.reference": str(tmp_path / "nope.json")})


def test_hwnas_soft_never_prunes_and_uses_mnasnet_reward(tmp_path):
    config, _, trials = _search(tmp_path, "hwnas_soft", **{"spec.fps": 1500.0})
    assert not [t for t in trials if t.state is TrialState.PRUNED]
    weight, spec = run.check_config(config).components["hwnas"]["soft_weight"], config.spec.fps
    rewards = [t.accuracy * (spec / t.metrics["fps"]) ** weight for t in trials]
    assert [t.reward for t in trials] == pytest.approx(rewards)
    fast = [t.reward / t.accuracy for t in trials if t.metrics["fps"] > spec]
    assert all(r > 1.0 for r in fast)  # faster than the spec earns more than accuracy alone


def test_hwnas_soft_needs_a_throughput_spec():
    with pytest.raises(ValueError, match=r"spec\.fps"):
        make_setup("hwnas_soft", **{"spec.fps": 0.0, "reward.hw_bounds": [100.0, 200.0]})


def test_nsga2_is_told_accuracy_and_hardware_or_pruned(tmp_path):
    _, setup, trials = _search(tmp_path, "nsga2", **{"spec.fps": 2600.0})
    study = setup.strategy.study.trials
    assert len(study) == len(trials)
    for record, told in zip(trials, study, strict=True):
        if record.state is TrialState.PRUNED:
            assert told.state is optuna.trial.TrialState.PRUNED
        else:
            assert told.values == [record.accuracy, record.metrics["fps"]]
    assert {t.state for t in trials} == {TrialState.PRUNED, TrialState.COMPLETE}


def test_exhaustive_covers_the_space_once_then_repeats():
    space = ChainSpace(depth=1)
    strategy = ExhaustiveStrategy(space, seed=5)
    first = [c.arch.key for c in strategy.ask(space.size())]
    assert sorted(first) == sorted({space.decode((k, f)).key for k in range(4) for f in range(4)})
    assert [c.arch.key for c in strategy.ask(space.size())] == first
    other = [c.arch.key for c in ExhaustiveStrategy(space, seed=6).ask(space.size())]
    assert other != first and sorted(other) == sorted(first)


def test_exhaustive_walks_only_the_given_indices():
    space = ChainSpace(depth=2)
    strategy = ExhaustiveStrategy(space, seed=0, indices=np.array([3, 7, 200]))
    keys = [c.arch.key for c in strategy.ask(6)]
    assert len(set(keys)) == 3 and keys[:3] == keys[3:]


def test_exhaustive_refuses_a_huge_space():
    with pytest.raises(ValueError, match="at most"):
        ExhaustiveStrategy(ChainSpace(depth=8), seed=0)


def test_unknown_strategy_lists_the_valid_names():
    config, setup = make_setup("random")
    with pytest.raises(KeyError, match="hwnas_soft"):
        build_strategy("zoph", strategy_context(config, setup))
