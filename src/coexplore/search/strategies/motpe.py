"""Optuna's multi-objective TPE behind the ask/tell `Strategy` interface, state as JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import optuna

from coexplore.search.strategies.nsga2 import Nsga2Strategy
from coexplore.search.strategy import (
    Candidate,
    Strategy,
    StrategyContext,
    StrategyEntry,
    front_rules,
)
from coexplore.spaces.base import SearchSpace


class MotpeStrategy(Nsga2Strategy):
    """TPE (Optuna's defaults: multivariate, constant liar for a batch asked at once) over the
    tokens, maximising (accuracy, hardware metric) of spec-meeting children; pruned children
    are told PRUNED, failed ones FAIL, exactly as for NSGA-II.

    Resumable without pickle: the state is the study's finished trials as JSON, and each batch
    gets a sampler seeded from (seed, trials so far), so the next asks follow from them alone."""

    def __init__(self, space: SearchSpace[Any], metric: str, seed: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.metric, self.seed = space, metric, seed
        self.study = optuna.create_study(directions=["maximize", "maximize"])
        self._asked: list[optuna.Trial] = []

    def ask(self, n: int) -> list[Candidate]:
        told = len(self.study.trials)
        self.study.sampler = optuna.samplers.TPESampler(seed=_batch_seed(self.seed, told))
        return super().ask(n)

    def state_bytes(self) -> bytes:
        trials = [
            {"params": t.params, "state": t.state.name, "values": t.values}
            for t in self.study.trials
        ]
        return json.dumps(trials).encode()

    def load_state(self, blob: bytes) -> None:
        self.study = optuna.create_study(directions=["maximize", "maximize"])
        distributions = self._distributions()
        for t in json.loads(blob):
            state = optuna.trial.TrialState[t["state"]]
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=t["params"],
                    distributions={k: distributions[k] for k in t["params"]},
                    values=t["values"],
                    state=state,
                )
            )
        self._asked = []


def _batch_seed(seed: int, told: int) -> int:
    return int(np.random.SeedSequence([seed, told]).generate_state(1)[0])


def _motpe(ctx: StrategyContext) -> Strategy:
    return MotpeStrategy(ctx.space, ctx.config.reward.metric, ctx.config.run.seed)


ENTRIES = (StrategyEntry("motpe", _motpe, "Optuna's multi-objective TPE", front_rules),)
