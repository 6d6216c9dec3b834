"""NSGA-II (Optuna) behind the ask/tell `Strategy` interface."""

from __future__ import annotations

import pickle
from typing import Any

import optuna

from coexplore.search.reward import PRUNED_REWARD
from coexplore.search.strategy import Candidate, Strategy
from coexplore.spaces.base import SearchSpace
from coexplore.storage import TrialRecord, TrialState


class Nsga2Strategy(Strategy):
    """Optuna's NSGA-II driven by ask/tell: one categorical per token position; objectives
    (accuracy, hardware metric) of children that meet the spec, both maximised. Pruned children
    are told PRUNED and failed ones FAIL, so they never enter a population.

    The objectives come from the trial records, which the loop hands to `observe` before
    `tell`; told rewards alone (no records), both objectives are the reward."""

    name = "nsga2"
    promotion = "front"  # its objectives are the pair, not a scalar reward

    def __init__(self, space: SearchSpace[Any], metric: str, population: int, seed: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial
        sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        self.study = optuna.create_study(directions=["maximize", "maximize"], sampler=sampler)
        self.space, self.metric = space, metric
        self._asked: list[optuna.Trial] = []
        self._records: list[TrialRecord] = []

    def ask(self, n: int) -> list[Candidate]:
        self._asked = [self.study.ask() for _ in range(n)]
        return [Candidate(self.space.decode(self._tokens(trial))) for trial in self._asked]

    def _tokens(self, trial: optuna.Trial) -> tuple[int, ...]:
        return tuple(
            trial.suggest_categorical(t.name, list(range(len(t.choices))))
            for t in self.space.token_types()
        )

    def observe(self, records: list[TrialRecord]) -> None:
        self._records = list(records)

    def tell(self, candidates: list[Candidate], rewards: list[float]) -> None:
        if len(candidates) != len(self._asked) or len(rewards) != len(candidates):
            raise ValueError(f"nsga2: told {len(rewards)} results for {len(self._asked)} asked")
        records: list[TrialRecord | None] = [*self._records] or [None] * len(rewards)
        for trial, reward, record in zip(self._asked, rewards, records, strict=True):
            state, values = self._outcome(reward, record)
            self.study.tell(trial, values, state=state)
        self._asked, self._records = [], []

    def _outcome(self, reward: float, record: TrialRecord | None) -> tuple[Any, Any]:
        done = optuna.trial.TrialState.COMPLETE
        if record is None:
            pruned = reward <= PRUNED_REWARD
            return (optuna.trial.TrialState.PRUNED, None) if pruned else (done, [reward, reward])
        if record.state is TrialState.FAILED:
            return optuna.trial.TrialState.FAIL, None
        metrics = record.metrics
        if record.state is not TrialState.COMPLETE or metrics.get("meets_spec") != 1.0:
            return optuna.trial.TrialState.PRUNED, None
        return done, [metrics["accuracy"], metrics[self.metric]]

    def state_bytes(self) -> bytes:
        return pickle.dumps(self.study)

    def load_state(self, blob: bytes) -> None:
        self.study, self._asked, self._records = pickle.loads(blob), [], []
