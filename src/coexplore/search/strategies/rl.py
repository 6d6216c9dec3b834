"""The paper's RL controller as a strategy (`rl`), and Zoph-style NAS on it (`nas`).

`ControllerStrategy` samples architecture tokens with the LSTM controller
(`coexplore.search.strategies.controller`) and learns from the reward the run gave each child.
In `controller` fast mode (`fast.mode`) it also emits hardware tokens, and the fast level
re-samples those (updating the controller on a hardware-only reward) up to `fast.hw_tries`
times before the child is pruned. `rl`, `nas`, `hwnas` and `hwnas_soft` differ only in their
`Rules`.

- `nas`: the controller is rewarded on accuracy alone and nothing is pruned; the loop designs
  the hardware afterwards and records whether it meets the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coexplore.fast.controller_mode import HardwareJudgement, hardware_tokens, judge_tokens
from coexplore.search.strategies.controller import Controller, ControllerSettings
from coexplore.search.strategy import (
    Candidate,
    Outcome,
    Rules,
    Strategy,
    StrategyContext,
    StrategyEntry,
)
from coexplore.spaces.base import SearchSpace, TokenType

Judge = Callable[[Any, tuple[int, ...]], HardwareJudgement]


class ControllerStrategy(Strategy):
    """The co-exploration controller. In `optimal` fast mode it emits architecture
    tokens only; in `controller` mode it also emits hardware tokens, and the fast level
    re-samples those (updating the controller on a hardware-only reward) up to `hw_tries`
    times before the child is pruned. It learns from the reward the run gave each child
    (the registry's `rl`, `nas`, `hwnas` and `hwnas_soft` differ only in their `Rules`)."""

    def __init__(
        self,
        space: SearchSpace[Any],
        settings: ControllerSettings,
        seed: int,
        hw_tokens: tuple[TokenType, ...] = (),
        judge: Judge | None = None,
        hw_tries: int = 10,
    ) -> None:
        self.space, self.judge, self.hw_tries = space, judge, hw_tries
        self.n_arch = len(space.token_types())
        self.controller = Controller(space.token_types() + hw_tokens, settings, seed)

    def ask(self, n: int) -> list[Candidate]:
        rows = self.controller.sample(n)
        return [self._candidate(row) for row in rows]

    def _candidate(self, row: tuple[int, ...]) -> Candidate:
        arch = self.space.decode(row[: self.n_arch])
        if self.judge is None:
            return Candidate(arch)
        hw_positions = slice(self.n_arch, None)
        for attempt in range(1, self.hw_tries + 1):
            judgement = self.judge(arch, row[self.n_arch :])
            if not judgement.reason or attempt == self.hw_tries:
                return Candidate(arch, row[self.n_arch :], judgement, attempt)
            self.controller.update([row], [judgement.reward], hw_positions)
            row = self.controller.sample(1, [row[: self.n_arch]])[0]
        raise AssertionError("unreachable")

    def tell(self, candidates: list[Candidate], outcomes: list[Outcome]) -> None:
        rows = [self.space.encode(c.arch) + c.hw_tokens for c in candidates]
        self.controller.update(rows, [o.reward for o in outcomes])

    def state_bytes(self) -> bytes:
        return self.controller.state_bytes()

    def load_state(self, blob: bytes) -> None:
        self.controller.load_state(blob)


def _rl(ctx: StrategyContext) -> Strategy:
    """The paper's controller; in `controller` fast mode it also samples the hardware."""
    seed, settings = ctx.config.run.seed, ctx.settings(ControllerSettings)
    if ctx.config.fast.mode == "optimal":
        return ControllerStrategy(ctx.space, settings, seed)
    max_layers = len(ctx.workload(ctx.space.sample(np.random.default_rng(seed))))

    def judge(arch: Any, tokens: tuple[int, ...]) -> Any:
        return judge_tokens(tokens, ctx.workload(arch), ctx.pool, ctx.spec, ctx.precision_of(arch))

    return ControllerStrategy(
        ctx.space,
        settings,
        seed,
        hardware_tokens(ctx.pool, max_layers),
        judge,
        ctx.config.fast.hw_tries,
    )


def architecture_controller(ctx: StrategyContext) -> Strategy:
    """The controller over the architecture tokens only, whatever fast.mode says (the
    strategies built on it design the hardware their own way)."""
    return ControllerStrategy(ctx.space, ctx.settings(ControllerSettings), ctx.config.run.seed)


def _nas_rules(ctx: StrategyContext) -> Rules:
    return Rules(prunes=False, accuracy_only=True)


ENTRIES = (
    StrategyEntry(
        "rl", _rl, "the paper's RL controller (co-exploration)", settings=(ControllerSettings,)
    ),
    StrategyEntry(
        "nas", architecture_controller,
        "Zoph-style NAS: accuracy alone, hardware designed afterwards", _nas_rules,
        (ControllerSettings,),
    ),
)  # fmt: skip
