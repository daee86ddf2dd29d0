"""The ridge probe: one field read linearly from frozen embeddings (or any features).

Used by evaluate (the R2 of results.md), predict (values and intervals) and so the report:
every number about a probe comes from the same fit.
"""

from __future__ import annotations

import numpy as np

ALPHAS = np.logspace(-3, 4, 15)


def ridge(x: np.ndarray, y: np.ndarray, alphas=ALPHAS) -> tuple[np.ndarray, float]:
    """Ridge regression on standardised features, the penalty chosen by exact
    leave-one-out error (one SVD for every penalty); weight and bias act on raw x."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    s2, v = np.linalg.eigh(z.T @ z)  # the SVD of z through its d x d Gram matrix: fast
    s = np.sqrt(np.clip(s2, 0.0, None))
    u = (z @ v) / np.where(s > 0, s, 1.0)
    vt = v.T
    centred = y - y.mean()
    uty = u.T @ centred
    shrink = s**2 / (s**2 + np.asarray(alphas)[:, None])  # (alphas, k)
    fitted = (shrink * uty) @ u.T  # (alphas, n)
    leverage = shrink @ (u**2).T + 1.0 / len(y)
    loo = np.mean(((centred - fitted) / (1.0 - leverage)) ** 2, axis=1)
    best = shrink[np.argmin(loo)]
    weight = vt.T @ (np.divide(best, s, out=np.zeros_like(s), where=s > 0) * uty) / scale
    return weight, float(y.mean() - mean @ weight)


def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Fit on the rows whose target is known; predict every test row."""
    known = np.isfinite(y_train)
    weight, bias = ridge(x_train[known], y_train[known])
    return np.asarray(x_test, dtype=np.float64) @ weight + bias
