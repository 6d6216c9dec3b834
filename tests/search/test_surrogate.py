"""The accuracy surrogate (trees + GP mixture) on a small additive problem."""

import numpy as np

from coexplore.search.strategies import surrogate
from coexplore.spaces import ChainSpace

TOKENS = ChainSpace(depth=3).token_types()


def _problem(n, seed):
    rng = np.random.default_rng(seed)
    rows = np.stack([rng.integers(0, len(t.choices), n) for t in TOKENS], axis=1)
    y = 0.8 + 0.02 * rows.sum(axis=1) / rows.shape[1]
    return surrogate.encode(TOKENS, rows, np.zeros((n, 0)), np.zeros((n, 0))), y


def test_mixture_predicts_an_additive_accuracy_from_few_children():
    train_x, train_y = _problem(40, 0)
    query_x, query_y = _problem(200, 1)
    mean, std = surrogate.fit_predict(train_x, train_y, query_x, seed=0)
    assert np.corrcoef(mean, query_y)[0, 1] > 0.8
    assert np.all(std > 0) and np.all(np.isfinite(std))


def test_floor_keeps_a_broken_child_from_dragging_the_prediction():
    train_x, train_y = _problem(40, 0)
    broken = train_y.copy()
    broken[0] = 0.1  # a network whose output is disconnected
    query_x, _ = _problem(100, 1)
    clean, _ = surrogate.fit_predict(train_x, train_y, query_x, seed=0)
    floored, _ = surrogate.fit_predict(train_x, broken, query_x, 0, floor=float(train_y.min()))
    raw, _ = surrogate.fit_predict(train_x, broken, query_x, seed=0)
    assert np.abs(floored - clean).max() < np.abs(raw - clean).max()


def test_too_few_children_use_the_trees_alone():
    train_x, train_y = _problem(3, 0)
    mean, std = surrogate.fit_predict(train_x, train_y, train_x, seed=0)
    assert mean.shape == std.shape == (3,)


def test_the_gp_sees_structure_features_instead_of_one_hot_tokens_where_a_space_has_them():
    rows = np.array([[0] * len(TOKENS), [len(t.choices) - 1 for t in TOKENS]])
    onehot_width = sum(len(t.choices) for t in TOKENS)
    workload = np.array([[1.0, 2.0], [3.0, 4.0]])
    plain = surrogate.encode(TOKENS, rows, np.zeros((2, 0)), workload)
    assert plain.trees.shape == plain.smooth.shape == (2, onehot_width + 2)
    assert plain.trees[0, :onehot_width].sum() == len(TOKENS)  # one choice per position
    structure = np.array([[5.0], [6.0]])
    cell = surrogate.encode(TOKENS, rows, structure, workload)
    assert cell.trees.shape == (2, onehot_width + 3)
    np.testing.assert_array_equal(cell.smooth, np.hstack([structure, workload]))
