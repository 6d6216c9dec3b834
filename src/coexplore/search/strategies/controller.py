"""The RL controller: an autoregressive LSTM policy over a fixed sequence of tokens.

Each token position has a kind (kernel, filters, stride, hw_tm, ...); positions of one kind share
one input embedding and one softmax head. Trained by REINFORCE with an exponential-moving-average
baseline and an entropy bonus, one update per batch of children (Zoph & Le; hotNAS).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from coexplore.config import Section, fraction, positive, setting
from coexplore.spaces.base import TokenType


@dataclass(frozen=True)
class ControllerSettings(Section):
    """The LSTM controller's settings."""

    SECTION = "controller"

    hidden: int = positive(35, "LSTM hidden units")
    embedding: int = positive(20, "token embedding size")
    lr: float = positive(0.0035, "Adam learning rate of the policy")
    entropy: float = setting(0.0001, "entropy bonus weight")
    baseline_decay: float = fraction(0.9, "decay of the reward's moving-average baseline")


@contextmanager
def _one_thread() -> Iterator[None]:
    """The policy is tiny: with several threads, OpenMP spin-waits cost 100x its work when
    the other cores are busy training children."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Policy(nn.Module):
    """p(token_t | tokens_<t): LSTM cell, per-kind embeddings and softmax heads."""

    def __init__(self, tokens: tuple[TokenType, ...], hidden: int, embedding: int) -> None:
        super().__init__()
        self.tokens = tokens
        sizes: dict[str, int] = {}
        for t in tokens:
            if sizes.setdefault(t.kind, len(t.choices)) != len(t.choices):
                raise ValueError(
                    f"token kind {t.kind!r} has positions with different choice counts"
                )
        self.start = nn.Parameter(torch.zeros(embedding))
        self.cell = nn.LSTMCell(embedding, hidden)
        self.embed = nn.ModuleDict({k: nn.Embedding(n, embedding) for k, n in sizes.items()})
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in sizes.items()})
        self.hidden = hidden

    def forward(
        self,
        batch: int,
        given: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Sample (or score `given`) token sequences.

        `given` is [batch, k] with k <= len(tokens): the first k positions are teacher-forced,
        the rest sampled. Returns (indices [batch, T], log-prob [batch, T], entropy [batch, T]).
        """
        h = c = torch.zeros(batch, self.hidden)
        x = self.start.expand(batch, -1)
        picks, logps, entropies = [], [], []
        for pos, token in enumerate(self.tokens):
            h, c = self.cell(x, (h, c))
            logits = torch.log_softmax(self.heads[token.kind](h), dim=-1)
            if given is not None and pos < given.shape[1]:
                index = given[:, pos]
            else:
                index = torch.multinomial(logits.detach().exp(), 1, generator=generator)[:, 0]
            picks.append(index)
            logps.append(logits.gather(1, index[:, None])[:, 0])
            entropies.append(-(logits.exp() * logits).sum(dim=-1))
            x = self.embed[token.kind](index)
        return torch.stack(picks, 1), torch.stack(logps, 1), torch.stack(entropies, 1)


class Controller:
    """Policy + optimiser + baseline + sampling generator; its state round-trips exactly."""

    def __init__(self, tokens: tuple[TokenType, ...], settings: ControllerSettings, seed: int):
        self.settings = settings
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(seed)
            self.policy = Policy(tokens, settings.hidden, settings.embedding)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=settings.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.updates = 0

    @property
    def tokens(self) -> tuple[TokenType, ...]:
        return self.policy.tokens

    def sample(
        self, batch: int, prefix: list[tuple[int, ...]] | None = None
    ) -> list[tuple[int, ...]]:
        """Token indices for `batch` sequences (continuing `prefix` rows when given)."""
        given = torch.tensor(prefix, dtype=torch.long) if prefix else None
        with torch.no_grad(), _one_thread():
            picks, _, _ = self.policy(batch, given, self.generator)
        return [tuple(int(v) for v in row) for row in picks.tolist()]

    def update(
        self, sequences: list[tuple[int, ...]], rewards: list[float], positions: slice = slice(None)
    ) -> float:
        """One REINFORCE step on the tokens at `positions`; returns the advantage mean."""
        with _one_thread():
            return self._update(sequences, rewards, positions)

    def _update(
        self, sequences: list[tuple[int, ...]], rewards: list[float], positions: slice
    ) -> float:
        reward = torch.tensor(rewards, dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(reward.mean())
        advantage = reward - self.baseline
        _, logp, entropy = self.policy(len(sequences), torch.tensor(sequences, dtype=torch.long))
        loss = -(advantage * logp[:, positions].sum(1)).mean()
        loss = loss - self.settings.entropy * entropy[:, positions].sum(1).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        decay = self.settings.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * float(reward.mean())
        self.updates += 1
        return float(advantage.mean())

    def state_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {
                "policy": self.policy.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "baseline": self.baseline,
                "updates": self.updates,
            },
            buffer,
        )
        return buffer.getvalue()

    def load_state(self, blob: bytes) -> None:
        state = torch.load(io.BytesIO(blob), weights_only=True)
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline, self.updates = state["baseline"], state["updates"]
