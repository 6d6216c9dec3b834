"""The accuracy surrogate: scikit-learn models over an architecture encoding.

Encoding (any space): one-hot of every token position's choice, the space's structure features
(`SearchSpace.structure_features`: for a cell, the ops along its live input-to-output paths),
and the log of the workload's multiply-accumulates and parameters (known before training, and
the strongest single signals of capacity). The trees see all of it; the GP sees the structure
and workload features where the space has structure features, else the one-hot tokens and the
workload features (`Encoded`).

Model: the equal mixture of two scikit-learn regressors that fail in different ways:
- extremely randomised trees on bootstrap samples (the ensemble view SMAC and BANANAS take):
  no target scaling, robust to the few broken networks, but piecewise constant and
  over-confident far from the data;
- a Gaussian process over its features, each scaled to [0, 1] (one length scale for all, plus
  a noise term): smooth, additive-like in the tokens, which is what a few dozen children can
  support, with an uncertainty that grows away from the data.
The mixture's mean is the average of the two means; its variance is the average of the two
variances plus the spread of the means (the law of total variance), so the two disagreeing
counts as uncertainty.

Targets below `floor` are raised to it before fitting: accuracies under the hypervolume's
reference do not count, and a broken network's 10 % must not bend the smooth model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from threadpoolctl import threadpool_limits

from coexplore.spaces.base import TokenType

TREES = 64
NOISE = 1.0
MIN_GP_CHILDREN = 4  # fewer: trees alone


@dataclass(frozen=True)
class Encoded:
    """Architectures as the two models see them, one row each."""

    trees: np.ndarray  # one-hot tokens, structure features, workload features
    smooth: np.ndarray  # the GP's columns


def encode(
    tokens: tuple[TokenType, ...], rows: np.ndarray, structure: np.ndarray, workload: np.ndarray
) -> Encoded:
    """The features of `rows` ([n, positions] choice indices) with their `structure`
    ([n, k], k may be 0) and `workload` ([n, w]) features.

    The GP's kernel weighs every column alike, so with the one-hot edges beside a space's
    structure features (30 columns against 18 on NAS-Bench-201) its distance between two cells
    would mostly say where their ops sit, not what a signal passes; the trees choose their own
    columns and keep all. (NAS-Bench-201, seeds 0-9, hypervolume ratio after 50 / 100 / 200
    trainings, GP on all columns -> GP without the one-hot: CIFAR-10 acc x GOPS/W
    0.882 / 0.953 / 0.997 -> 0.900 / 0.968 / 0.999, CIFAR-100 0.850 / 0.929 / 0.982 ->
    0.863 / 0.956 / 0.992; acc x FPS within 0.01, or better.) A chain's tokens are its
    structure: its GP keeps them."""
    blocks = [
        (rows[:, p : p + 1] == np.arange(len(t.choices))[None, :]).astype(float)
        for p, t in enumerate(tokens)
    ]
    onehot = np.hstack(blocks) if blocks else np.zeros((len(rows), 0))
    smooth = np.hstack([structure if structure.shape[1] else onehot, workload])
    return Encoded(np.hstack([onehot, structure, workload]), smooth)


def fit_predict(
    train: Encoded,
    train_y: np.ndarray,
    query: Encoded,
    seed: int,
    floor: float = -np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the predicted accuracy at `query` from the trained children."""
    # One BLAS thread: the matrices are a few hundred rows, where threads only contend with
    # the training workers (measured on 2 busy cores: the GP fit took twice the CPU time).
    with threadpool_limits(limits=1):
        return _mixture(train, np.maximum(train_y, floor), query, seed)


def _mixture(
    train: Encoded, y: np.ndarray, query: Encoded, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    t_mean, t_std = _trees(train.trees, y, query.trees, seed)
    if len(y) < MIN_GP_CHILDREN or np.ptp(y) == 0:
        return t_mean, t_std
    g_mean, g_std = _gp(train.smooth, y, query.smooth, seed)
    mean = 0.5 * (t_mean + g_mean)
    var = 0.5 * (t_std**2 + g_std**2) + 0.25 * (t_mean - g_mean) ** 2
    return mean, np.sqrt(var)


def _trees(
    train_x: np.ndarray, train_y: np.ndarray, query_x: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
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


def _gp(
    train_x: np.ndarray, train_y: np.ndarray, query_x: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    scale = _column_scale(np.vstack([train_x, query_x]))
    tx, qx = train_x / scale, query_x / scale
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(2.0, (0.1, 100.0)) + WhiteKernel(
        0.05, (1e-6, 1.0)
    )
    model = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(tx, train_y)
    mean, std = model.predict(qx, return_std=True)
    return mean, std


def _column_scale(x: np.ndarray) -> np.ndarray:
    """Each column's range (1 where constant): one-hot columns keep their 0/1."""
    span = np.ptp(x, axis=0)
    return np.where(span > 0, span, 1.0)


def _outcome_noise(model: ExtraTreesRegressor, train_y: np.ndarray) -> float:
    """Robust scale (MAD) of the out-of-bag residuals."""
    residual = train_y - model.oob_prediction_
    residual = residual[np.isfinite(residual)]
    return (
        float(1.4826 * np.median(np.abs(residual - np.median(residual)))) if len(residual) else 0.0
    )
