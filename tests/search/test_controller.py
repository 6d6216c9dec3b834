"""The controller learns, and its state round-trips exactly."""

import numpy as np

from coexplore.search.strategies.controller import Controller, ControllerSettings
from coexplore.spaces.base import TokenType

TOKENS = tuple(TokenType(f"layer{i}.kernel", "kernel", (1, 3, 5, 7)) for i in range(6))


def synthetic_reward(row):
    return sum(index == 1 for index in row) / len(row)  # fraction of 3x3 kernels


def test_mean_reward_rises_on_a_synthetic_reward():
    controller = Controller(TOKENS, ControllerSettings(lr=0.02), seed=7)
    means = []
    for _ in range(60):
        rows = controller.sample(16)
        rewards = [synthetic_reward(r) for r in rows]
        controller.update(rows, rewards)
        means.append(np.mean(rewards))
    assert np.mean(means[:2]) < 0.4  # about 1/4 at random
    assert np.mean(means[-10:]) > np.mean(means[:2]) + 0.4


def test_state_round_trip_gives_identical_samples_and_updates():
    a = Controller(TOKENS, ControllerSettings(), seed=1)
    for _ in range(3):
        rows = a.sample(4)
        a.update(rows, [synthetic_reward(r) for r in rows])
    b = Controller(TOKENS, ControllerSettings(), seed=99)
    b.load_state(a.state_bytes())
    for _ in range(3):
        rows_a, rows_b = a.sample(4), b.sample(4)
        assert rows_a == rows_b
        a.update(rows_a, [synthetic_reward(r) for r in rows_a])
        b.update(rows_b, [synthetic_reward(r) for r in rows_b])
    assert a.baseline == b.baseline


def test_prefix_is_kept_when_sampling_the_rest():
    controller = Controller(TOKENS, ControllerSettings(), seed=3)
    rows = controller.sample(5, [(0, 1, 2)] * 5)
    assert all(row[:3] == (0, 1, 2) for row in rows)
