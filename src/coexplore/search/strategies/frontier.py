"""The default strategy (`coexplore`): train next what pushes the accuracy-hardware front most.

Per batch (docs/strategy.md has the why):
1. grow a pool of hardware-evaluated networks: the one-token neighbours of the trained
   children on the current fronts, and uniform samples (the fast level gives each its exact
   metrics and spec verdict in milliseconds; the pool is the memo, nothing is evaluated twice).
   A network is the space's computation key (`SearchSpace.computation_key`): the pool holds one
   architecture per network, since its copies compute the same function on the same hardware;
2. fit the accuracy surrogate (`coexplore.search.strategies.surrogate`) on the trained children;
3. among spec-meeting pool members whose network was never asked, pick greedily the largest
   expected hypervolume improvement, relative to each (metric, accuracy) plane's current
   hypervolume and summed over the planes, each candidate's prediction then believed (added to
   the fronts at its mean) so a batch spreads along the front.
The first `seed_children` children are a max-min spread of spec-meeting ones. The accuracy
reference of the hypervolume is a quantile of the space's predicted accuracy (no hand-set
bounds).

No network is asked twice: the loop would answer a repeat from its store, so a repeat spends
a slot of the batch on nothing new.

State is JSON: the pool with its hardware views, the trained children, the networks asked, the
generator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from coexplore.config import ConfigError, Section, fraction, positive, setting
from coexplore.results.pareto import hypervolume, pareto_front, reference_metric
from coexplore.search.strategies import ehvi, surrogate
from coexplore.search.strategies.oracle import HardwareOracle, HardwareView, oracle_for
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

Tokens = tuple[int, ...]
# Of the new candidates per batch after the first, the share of uniform samples (the rest are
# neighbours of the front). Uniform samples find the hardware classes no neighbour leads to yet.
# With relative scores (`_scale`), NAS-Bench-201, seeds 0-4, acc x FPS ratio after 50 / 200
# trainings, CIFAR-10 and CIFAR-100: a quarter 0.94 / 0.98 and 0.84 / 0.96, a half 0.92 / 0.99
# and 0.88 / 0.98 (acc x GOPS/W within 0.03 of each other).
UNIFORM_SHARE = 0.5
# The architectures of one network whose moves make up its neighbourhood (the one the pool holds
# and up to this many more found from it). On NAS-Bench-201 a network has up to 460 cells; the
# cells near the pool's one give most of its neighbours (DRAFT: measured below).
COPIES = 32


@dataclass(frozen=True)
class CoexploreSettings(Section):
    """The default strategy's settings (docs/strategy.md)."""

    SECTION = "coexplore"

    candidates: int = positive(64, "new architectures the fast level evaluates per batch")
    seed_children: int = setting(8, "the first children: a max-min spread of spec-meeting ones")
    reference_quantile: float = fraction(0.25, "hypervolume reference: this accuracy quantile")


@dataclass(frozen=True)
class Entry:
    """A pool member: its hardware view and whether it came from uniform sampling."""

    view: HardwareView
    uniform: bool


class FrontierStrategy(Strategy):
    def __init__(
        self,
        space: SearchSpace[Any],
        oracle: HardwareOracle,
        references: tuple[float, ...],
        settings: CoexploreSettings,
        seed: int,
    ) -> None:
        self.space, self.oracle, self.references = space, oracle, references
        self.settings, self.seed = settings, seed
        self.rng = np.random.default_rng(seed)
        self.pool: dict[Tokens, Entry] = {}  # one architecture per network (computation key)
        self.trained: dict[Tokens, float] = {}  # accuracy of each trained child
        self.asked: set[str] = set()  # networks asked and answered (trained, pruned or failed)
        # Derived from the tokens alone, so not in the state: the network of each architecture
        # met (its computation key), the pool member of each network, structure_features.
        self.keys: dict[Tokens, str] = {}
        self.members: dict[str, Tokens] = {}
        self.structure: dict[Tokens, tuple[float, ...]] = {}
        self.neighbourhoods: dict[Tokens, list[Tokens]] = {}  # `_network_neighbours`
        # Pairs whose accuracy is known without asking them: their network trained at another
        # precision (a run searching several).
        self.known: dict[Tokens, float] = {}

    # -- ask ------------------------------------------------------------------------------

    def ask(self, n: int) -> list[Candidate]:
        self._grow()
        seeding = len(self._feasible_trained()) < self.settings.seed_children
        rows = self._pickable(seeding)
        if len(rows) < n:  # a tight spec: widen the pool with spec-meeting uniform samples
            self._add_uniform(n - len(rows), counts=lambda entry: entry.view.feasible)
            rows = self._pickable(seeding)
        if seeding:
            picks = self._max_min_picks(rows or self._pickable(seeding=False), n)
        else:
            picks = self._frontier_picks(rows, n)
        picks += self._fill(n - len(picks))
        return [Candidate(self.space.decode(t)) for t in picks]

    def _pickable(self, seeding: bool) -> list[Tokens]:
        """Open (spec-meeting, network never asked) pool members; while seeding, the uniform
        ones."""
        return [
            t
            for t, e in self.pool.items()
            if e.view.feasible and self.keys[t] not in self.asked and (e.uniform or not seeding)
        ]

    def _grow(self) -> None:
        """Evaluate up to `candidates` new architectures: elite neighbours, then uniform."""
        budget = self.settings.candidates
        uniform = budget if not self.trained else max(1, int(budget * UNIFORM_SHARE))
        for tokens in self._elite_neighbours(budget - uniform):
            self._evaluate(tokens, uniform=False)
        self._add_uniform(uniform, counts=lambda entry: True)

    def _add_uniform(self, wanted: int, counts: Callable[[Entry], bool]) -> None:
        """Uniform samples new to the pool, up to 4 x `candidates` draws, until `wanted` of
        them satisfy `counts` (every new one for `_grow`; spec-meeting ones when a batch is
        larger than the open spec-meeting pool, so the picks still choose among those)."""
        for _ in range(4 * self.settings.candidates):
            if wanted <= 0:
                break
            tokens = self.space.encode(self.space.sample(self.rng))
            if self._is_new(tokens) and counts(self._evaluate(tokens, uniform=True)):
                wanted -= 1

    def _elite_neighbours(self, limit: int) -> list[Tokens]:
        """One-token neighbours of the front members that are networks new to the pool, one
        per elite in turn (a neighbour that only changes a dead op is its elite again)."""
        queues = [self._shuffled_neighbours(t) for t in self._elites()]
        out: dict[str, Tokens] = {}
        while queues and len(out) < limit:
            queues = [q for q in queues if q]
            for queue in queues:
                tokens = queue.pop()
                if self._is_new(tokens) and self.keys[tokens] not in out and len(out) < limit:
                    out[self.keys[tokens]] = tokens
        return list(out.values())

    def _shuffled_neighbours(self, tokens: Tokens) -> list[Tokens]:
        rows = self._network_neighbours(tokens)
        return [rows[i] for i in self.rng.permutation(len(rows))]

    def _network_neighbours(self, tokens: Tokens) -> list[Tokens]:
        """The architectures one move (a token changed, or two swapped) from any architecture
        of `tokens`'s network, that are other networks: the network's neighbourhood, not only
        that of the one architecture the pool holds for it. Its other architectures are found
        by moves that keep the network (up to `COPIES` of them, nearest first)."""
        if tokens in self.neighbourhoods:
            return self.neighbourhoods[tokens]
        key, copies, seen = self._key(tokens), [tokens], {tokens}
        rows: list[Tokens] = []
        for cell in copies:  # grows while it is read: a breadth-first walk over the copies
            for row in self._moves(cell):
                if row in seen:
                    continue
                seen.add(row)
                if self._key(row) != key:
                    rows.append(row)
                elif len(copies) < COPIES:
                    copies.append(row)
        self.neighbourhoods[tokens] = rows
        return rows

    def _moves(self, tokens: Tokens) -> list[Tokens]:
        rows = [self.space.encode(a) for a in self.space.neighbours(self.space.decode(tokens))]
        return rows + _swaps(self.space, tokens)

    def _elites(self) -> list[Tokens]:
        """Trained spec-meeting children on the front of any plane, most accurate first."""
        rows = self._feasible_trained()
        elite: set[Tokens] = set()
        for m in range(len(self.references)):
            points = [(self.pool[t].view.metrics[m], self.trained[t]) for t in rows]
            elite.update(rows[i] for i in pareto_front(points))
        return sorted(elite, key=lambda t: (-self.trained[t], t))

    def _evaluate(self, tokens: Tokens, uniform: bool) -> Entry:
        """The pool entry of `tokens`'s network, evaluated by the oracle if it is new (its
        copies share its hardware: one computation key, one workload)."""
        if self._is_new(tokens):
            self.pool[tokens] = Entry(self.oracle(self.space.decode(tokens)), uniform)
            self.members[self.keys[tokens]] = tokens
        return self.pool[self.members[self.keys[tokens]]]

    def _is_new(self, tokens: Tokens) -> bool:
        """Whether no pool member computes the same network as `tokens`."""
        return self._key(tokens) not in self.members

    def _key(self, tokens: Tokens) -> str:
        if tokens not in self.keys:
            self.keys[tokens] = self.space.computation_key(self.space.decode(tokens))
        return self.keys[tokens]

    def _feasible_trained(self) -> list[Tokens]:
        return [t for t in self.trained if t in self.pool and self.pool[t].view.feasible]

    def _max_min_picks(self, uniform: list[Tokens], n: int) -> list[Tokens]:
        """A max-min design among `uniform` (the open uniform pool members): each pick the one
        farthest, in the GP's feature space scaled to each column's range, from the children
        already asked and picked; the first at random where none was asked yet. Spread seeds
        cover more hardware classes and cell shapes than uniform picks do (NAS-Bench-201,
        seeds 0-9, hypervolume ratio after 50 trainings: CIFAR-10 acc x GOPS/W 0.90 -> 0.94,
        CIFAR-100 acc x FPS 0.89 -> 0.90 and acc x GOPS/W 0.86 -> 0.90)."""
        if not uniform or n <= 0:
            return []
        asked = [t for t in self.pool if self.keys[t] in self.asked]
        rows = self._features(uniform + asked).smooth
        span = np.ptp(rows, axis=0)
        rows = rows / np.where(span > 0, span, 1.0)
        points, known = rows[: len(uniform)], rows[len(uniform) :]
        if len(known):
            chosen: list[int] = []
            distance = np.min(np.linalg.norm(points[:, None] - known[None], axis=2), axis=1)
        else:
            chosen = [int(self.rng.integers(len(uniform)))]
            distance = np.linalg.norm(points - points[chosen[0]], axis=1)
        while len(chosen) < min(n, len(uniform)):
            distance[chosen] = -np.inf
            best = int(np.argmax(distance))
            chosen.append(best)
            distance = np.minimum(distance, np.linalg.norm(points - points[best], axis=1))
        return [uniform[i] for i in chosen]

    def _fill(self, n: int) -> list[Tokens]:
        """Uniform samples, spec-meeting or not, when even a widened pool has too few open
        spec-meeting members (the loop records the others as pruned): networks not asked yet,
        as far as 4 x `candidates` draws find them, then any."""
        out: dict[str, Tokens] = {}
        repeats: list[Tokens] = []
        for _ in range(4 * self.settings.candidates):
            if len(out) >= n:
                break
            tokens = self.space.encode(self.space.sample(self.rng))
            self._evaluate(tokens, uniform=True)
            key = self.keys[tokens]
            if key not in self.asked and key not in out:
                out[key] = self.members[key]
            elif len(repeats) < n:
                repeats.append(self.members[key])
        return [*out.values(), *repeats][:n]

    # -- the acquisition ------------------------------------------------------------------

    def _frontier_picks(self, open_rows: list[Tokens], n: int) -> list[Tokens]:
        if not open_rows:
            return []
        mean, std = self._predict(open_rows)
        ref_y = self._reference_accuracy(open_rows, mean)
        feasible = [self.pool[t] for t in self.pool if self.pool[t].view.feasible]
        fronts, planes = [], []
        for m, ref_x in enumerate(self.references):
            x = np.array([self.pool[t].view.metrics[m] for t in open_rows])
            front = [(self.pool[t].view.metrics[m], a) for t, a in self._observed()]
            fronts.append(front)
            planes.append((x, self._scale(m, front, (ref_x, ref_y), feasible), (ref_x, ref_y)))
        chosen: list[int] = []
        for _ in range(min(n, len(open_rows))):
            score = np.sum(
                [
                    ehvi.expected_improvement(x, mean, std, front, ref) / span
                    for (x, span, ref), front in zip(planes, fronts, strict=True)
                ],
                axis=0,
            )
            score[chosen] = -np.inf
            best = int(np.argmax(score))
            chosen.append(best)
            for (x, _, _), front in zip(planes, fronts, strict=True):
                front.append((float(x[best]), float(mean[best])))  # believe the prediction
        return [open_rows[i] for i in chosen]

    def _scale(
        self, m: int, front: list[tuple[float, float]], ref: tuple[float, float], pool: list[Entry]
    ) -> float:
        """What an improvement on plane `m` is divided by: the plane's current hypervolume, so
        the score is the sum of *relative* improvements, which is what a hypervolume ratio
        measures on each plane, whatever the units. (Dividing by the hardware range instead
        let the plane with the wider range of hopeless designs weigh less: on NAS-Bench-201,
        5 seeds, the acc x FPS ratio after 50 trainings rose from 0.89 to 0.94 on CIFAR-10
        and from 0.74 to 0.84 on CIFAR-100.) Before the front has any area, a thousandth of
        the plane's range times one unit of accuracy stands in."""
        top = max(e.view.metrics[m] for e in pool)
        span = top - ref[0] if top > ref[0] else 1.0
        return max(hypervolume(front, ref), 1e-3 * span)

    def _observed(self) -> Iterator[tuple[Tokens, float]]:
        return ((t, self.trained[t]) for t in self._feasible_trained())

    def _predict(self, rows: list[Tokens]) -> tuple[np.ndarray, np.ndarray]:
        """The surrogate's accuracy (mean, std) of `rows`; exact for the pairs already known."""
        seen = {**self.known, **self.trained}
        known = list(seen)
        seed = int(np.random.SeedSequence([self.seed, len(self.trained)]).generate_state(1)[0])
        y = np.array([seen[t] for t in known])
        mean, std = surrogate.fit_predict(
            self._features(known), y, self._features(rows), seed, floor=_floor(y)
        )
        exact = np.array([t in self.known for t in rows], dtype=bool)
        if exact.any():
            mean = np.where(exact, [self.known.get(t, 0.0) for t in rows], mean)
            std = np.where(exact, 0.0, std)
        return mean, std

    def _features(self, rows: list[Tokens]) -> surrogate.Encoded:
        """One-hot tokens, the space's structure features, the workload's size features."""
        structure = np.array([self._structure(t) for t in rows]).reshape(len(rows), -1)
        workload = np.array([self.pool[t].view.features for t in rows])
        return surrogate.encode(self.space.token_types(), np.array(rows), structure, workload)

    def _structure(self, tokens: Tokens) -> tuple[float, ...]:
        if tokens not in self.structure:  # derived from the tokens alone: not in the state
            self.structure[tokens] = self.space.structure_features(self.space.decode(tokens))
        return self.structure[tokens]

    def _reference_accuracy(self, open_rows: list[Tokens], mean: np.ndarray) -> float:
        """A quantile of the accuracy of uniform spec-meeting architectures: observed where
        trained, predicted otherwise."""
        values = [a for t, a in self._observed() if self.pool[t].uniform]
        values += [float(m) for t, m in zip(open_rows, mean, strict=True) if self.pool[t].uniform]
        values = values or [a for _, a in self._observed()]
        return float(np.quantile(values, self.settings.reference_quantile))

    # -- tell and state -------------------------------------------------------------------

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        for candidate, outcome in zip(candidates, outcomes, strict=True):
            tokens = self.space.encode(candidate.arch)
            self._evaluate(tokens, uniform=True)  # already in the pool when this one asked it
            self.asked.add(self.keys[tokens])
            if outcome.state is TrialState.COMPLETE:  # pruned or failed: no accuracy
                self.trained[self.members[self.keys[tokens]]] = float(outcome.accuracy)
                self._learn_pairs(candidate.arch, outcome)

    def _learn_pairs(self, arch: Any, outcome: Outcome) -> None:
        """The trained network at the run's other precisions: their accuracies are known (the
        loop scored it at each), so those pairs join the pool as exact points, asked at no
        training cost when they push the front."""
        for precision, accuracy in outcome.accuracy_at.items():
            tokens = self.space.encode(self.space.at(arch, precision))
            if self._key(tokens) not in self.asked:
                self._evaluate(tokens, uniform=False)
                self.known[self.members[self.keys[tokens]]] = float(accuracy)

    def state_bytes(self) -> bytes:
        state = {
            "seed": self.seed,  # seeds each batch's surrogate
            "rng": self.rng.bit_generator.state,
            "pool": [
                [list(t), e.uniform, e.view.feasible, list(e.view.metrics), list(e.view.features)]
                for t, e in self.pool.items()
            ],
            "trained": [[list(t), a] for t, a in self.trained.items()],
            "known": [[list(t), a] for t, a in self.known.items()],
            "asked": sorted(self.asked),
        }
        return json.dumps(state).encode()

    def load_state(self, blob: bytes) -> None:
        state = json.loads(blob)
        self.seed = int(state["seed"])
        self.rng.bit_generator.state = state["rng"]
        self.pool, self.members = {}, {}
        for t, u, f, m, x in state["pool"]:  # an earlier version's pool may hold copies
            if self._is_new(tuple(t)):
                self.pool[tuple(t)] = Entry(HardwareView(bool(f), tuple(m), tuple(x)), bool(u))
                self.members[self.keys[tuple(t)]] = tuple(t)
        self.trained = {self.members[self._key(tuple(t))]: float(a) for t, a in state["trained"]}
        # An earlier version kept the architectures asked ("tried"), not their networks.
        asked = (
            state["asked"] if "asked" in state else [self._key(tuple(t)) for t in state["tried"]]
        )
        self.asked = set(asked)
        self.known = {tuple(t): float(a) for t, a in state.get("known", [])}


def _floor(accuracy: np.ndarray) -> float:
    """Where the surrogate stops caring: as far below the lower quartile of the trained
    children as the median is above it (the hypervolume reference is about that quartile)."""
    if len(accuracy) < 4:
        return -np.inf
    low, mid = np.quantile(accuracy, [0.25, 0.5])
    return float(low - (mid - low))


def _swaps(space: SearchSpace[Any], tokens: Tokens) -> list[Tokens]:
    """`tokens` with the choices of two positions of the same kind exchanged. Such a move
    often keeps the hardware exactly (the same layers in another place) while the accuracy
    changes: the way to the best of a front point's hardware twins."""
    kinds = [(t.kind, t.choices) for t in space.token_types()]
    out = []
    for p in range(len(tokens)):
        for q in range(p + 1, len(tokens)):
            if kinds[p] == kinds[q] and tokens[p] != tokens[q]:
                row = list(tokens)
                row[p], row[q] = row[q], row[p]
                out.append(tuple(row))
    return out


def _coexplore(ctx: StrategyContext) -> Strategy:
    """The default strategy, on the planes of both headline metrics (and reward.metric)."""
    if ctx.config.fast.mode == "controller":
        raise ConfigError(
            "config: fast.mode 'controller' samples hardware tokens with the RL controller: "
            "set run.strategy = 'rl'"
        )
    metrics = tuple(dict.fromkeys(("fps", "gops_per_w", ctx.config.reward.metric)))
    references = tuple(reference_metric(m, ctx.spec.fps) for m in metrics)
    settings = ctx.settings(CoexploreSettings)
    return FrontierStrategy(
        ctx.space, oracle_for(ctx, metrics), references, settings, ctx.config.run.seed
    )


ENTRIES = (
    StrategyEntry(
        "coexplore", _coexplore, "surrogate frontier search over accuracy and hardware",
        front_rules, (CoexploreSettings,),
    ),
)  # fmt: skip
