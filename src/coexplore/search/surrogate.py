"""The accuracy surrogate: a scikit-learn tree ensemble over an architecture encoding.

Encoding (any space): one-hot of every token position's choice, plus the log of the workload's
multiply-accumulates and parameters (known before training, and the strongest single signals of
capacity). Model: extremely randomised trees on bootstrap samples; the mean over trees is the
prediction and their spread the uncertainty (the ensemble view SMAC and BANANAS take). Trees
need no scaling of the target, cope with the few broken networks (e.g. NAS-Bench-201 cells whose
output is disconnected, 10 % accuracy) without bending the rest, and fit in milliseconds.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor

from coexplore.spaces.base import TokenType

TREES = 64
NOISE = 1.0


def encode(tokens: tuple[TokenType, ...], rows: np.ndarray, extras: np.ndarray) -> np.ndarray:
    """[n, sum of choices + extras] features of `rows` ([n, positions] choice indices)."""
    blocks = [
        (rows[:, p : p + 1] == np.arange(len(t.choices))[None, :]).astype(float)
        for p, t in enumerate(tokens)
    ]
    return np.hstack([*blocks, extras])


def fit_predict(
    train_x: np.ndarray, train_y: np.ndarray, query_x: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the predicted accuracy at `query_x` from the trained children."""
    model = ExtraTreesRegressor(
        n_estimators=TREES, bootstrap=True, oob_score=len(train_y) >= 8, random_state=seed, n_jobs=1
    )
    with warnings.catch_warnings():  # few children: some have no out-of-bag tree yet (NaN)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(train_x, train_y)
    per_tree = np.stack([tree.predict(query_x) for tree in model.estimators_])
    spread = per_tree.std(axis=0)
    noise = NOISE * _outcome_noise(model, train_y) if len(train_y) >= 8 else 0.0
    return per_tree.mean(axis=0), np.sqrt(spread**2 + noise**2)


def _outcome_noise(model: ExtraTreesRegressor, train_y: np.ndarray) -> float:
    """Robust scale (MAD) of the out-of-bag residuals."""
    residual = train_y - model.oob_prediction_
    residual = residual[np.isfinite(residual)]
    return (
        float(1.4826 * np.median(np.abs(residual - np.median(residual)))) if len(residual) else 0.0
    )
