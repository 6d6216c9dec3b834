"""NSGA-II (Optuna) behind the ask/tell `Strategy` interface, state as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from coexplore.config import Section, positive
from coexplore.search.strategy import (
    Candidate,
    Outcome,
    Strategy,
    StrategyContext,
    StrategyEntry,
    front_rules,
)
from coexplore.spaces.base import SearchSpace
from coexplore.storage import TrialState


class Nsga2Strategy(Strategy):
    """Optuna's NSGA-II driven by ask/tell: one categorical per token position; objectives
    (accuracy, hardware metric) of children that meet the spec, both maximised. Pruned children
    are told PRUNED and failed ones FAIL, so they never enter a population. The objectives
    come from the outcomes it is told (their state, metrics and `meets_spec`)."""

    def __init__(self, space: SearchSpace[Any], metric: str, population: int, seed: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial
        self.population, self.seed = population, seed
        self.study = self._new_study()
        self.space, self.metric = space, metric
        self._asked: list[optuna.Trial] = []

    def ask(self, n: int) -> list[Candidate]:
        self._asked = [self.study.ask() for _ in range(n)]
        return [Candidate(self.space.decode(self._tokens(trial))) for trial in self._asked]

    def _tokens(self, trial: optuna.Trial) -> tuple[int, ...]:
        return tuple(
            trial.suggest_categorical(t.name, list(range(len(t.choices))))
            for t in self.space.token_types()
        )

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        if len(candidates) != len(self._asked) or len(outcomes) != len(candidates):
            raise ValueError(f"nsga2: told {len(outcomes)} results for {len(self._asked)} asked")
        for trial, outcome in zip(self._asked, outcomes, strict=True):
            state, values = self._outcome(outcome)
            self.study.tell(trial, values, state=state)
        self._asked = []

    def _outcome(self, outcome: Outcome) -> tuple[Any, Any]:
        if outcome.state is TrialState.FAILED:
            return optuna.trial.TrialState.FAIL, None
        if outcome.state is not TrialState.COMPLETE or not outcome.meets_spec:
            return optuna.trial.TrialState.PRUNED, None
        values = [outcome.accuracy, outcome.metrics[self.metric]]
        return optuna.trial.TrialState.COMPLETE, values

    def _new_study(self) -> optuna.Study:
        sampler = optuna.samplers.NSGAIISampler(population_size=self.population, seed=self.seed)
        return optuna.create_study(directions=["maximize", "maximize"], sampler=sampler)

    def _distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {
            t.name: optuna.distributions.CategoricalDistribution(list(range(len(t.choices))))
            for t in self.space.token_types()
        }

    # Resumable without pickle: the finished trials (with the generation bookkeeping NSGA-II
    # keeps in system attributes), the study's parent-population cache and the sampler's two
    # random states, all JSON. Rebuilt into a fresh in-memory study, the trials get the same
    # ids again (they are added in order), so the next asks are exactly those of the original.
    def state_bytes(self) -> bytes:
        study = self.study
        state = {
            "trials": [_trial_json(t) for t in study.trials],
            "study_attrs": study._storage.get_study_system_attrs(study._study_id),
            "rngs": [_rng_json(rng) for rng in _sampler_rngs(study.sampler)],
        }
        return json.dumps(state).encode()

    def load_state(self, blob: bytes) -> None:
        state = json.loads(blob)
        study = self._new_study()
        distributions = self._distributions()
        for t in state["trials"]:
            study.add_trial(
                optuna.trial.create_trial(
                    params=t["params"],
                    distributions={k: distributions[k] for k in t["params"]},
                    values=t["values"],
                    state=optuna.trial.TrialState[t["state"]],
                    system_attrs=t["system_attrs"],
                )
            )
        for key, value in state["study_attrs"].items():
            study._storage.set_study_system_attr(study._study_id, key, value)
        rngs = _sampler_rngs(study.sampler)
        if len(rngs) != len(state["rngs"]):
            raise ValueError("nsga2: the stored state has the wrong number of random states")
        for rng, stored in zip(rngs, state["rngs"], strict=True):
            rng.set_state(_rng_from_json(stored))
        self.study, self._asked = study, []


def _trial_json(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    if trial.state is optuna.trial.TrialState.RUNNING:  # checkpoints follow a whole tell
        raise ValueError("nsga2: cannot store the state while a trial is still asked")
    return {
        "params": trial.params,
        "state": trial.state.name,
        "values": trial.values,
        "system_attrs": trial.system_attrs,
    }


def _sampler_rngs(sampler: Any) -> list[np.random.RandomState]:
    """The random states NSGA-II draws from: its own (crossover, mutation, parent choice) and
    its random sampler's (the first generation, and parameters outside the search space)."""
    return [sampler._rng.rng, sampler._random_sampler._rng.rng]


def _rng_json(rng: np.random.RandomState) -> list[Any]:
    kind, key, pos, has_gauss, cached = rng.get_state()
    return [kind, [int(k) for k in key], int(pos), int(has_gauss), float(cached)]


def _rng_from_json(stored: list[Any]) -> tuple[Any, ...]:
    kind, key, pos, has_gauss, cached = stored
    return (str(kind), np.asarray(key, dtype=np.uint32), int(pos), int(has_gauss), float(cached))


@dataclass(frozen=True)
class Nsga2Settings(Section):
    """Optuna's NSGA-II sampler."""

    SECTION = "nsga2"

    population: int = positive(16, "NSGA-II population size")


def _nsga2(ctx: StrategyContext) -> Strategy:
    population = ctx.settings(Nsga2Settings).population
    return Nsga2Strategy(ctx.space, ctx.config.reward.metric, population, ctx.config.run.seed)


ENTRIES = (
    StrategyEntry(
        "nsga2", _nsga2, "Optuna's NSGA-II over (accuracy, hardware metric)", front_rules,
        (Nsga2Settings,),
    ),
)  # fmt: skip
