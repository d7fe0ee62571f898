"""A per-row error model for an amortized explainer, and how it is calibrated.

The model of the squared error of row x's values for output k is linear with non-negative
weights in three terms: a constant, the output's sensitivity (f_k(x) (1 - f_k(x)) in
probability space, where rows near the decision boundary are the hard ones; |f_k(x) - base_k|
in other spaces), and the ridge's leverage of x for output k (its predictive variance in its
own feature space: large where the training rows are sparse). Its weights are fitted to the
leave-one-out errors of the ridge on its training rows, less the labels' own noise (known from
two independent halves of the permutation samples). The scale is then calibrated on held-out
rows at fit time, split-conformal style: the stated error is multiplied by the median of
actual / stated over those rows, so that half of fresh rows have an actual error above it.

Off the training data (a value outside the range, an unseen category) these terms do not rank
rows: measured on rows moved outside the range, the actual error is mostly g's own error at the
edge of the support, and its rank correlation with the model above was 0.0-0.5. Such a row is
checked instead (scoring.explainers.sampler.check_distance): a short antithetic permutation
sample over the background summary gives an unbiased estimate of the squared distance from the
served values to the Shapley values, added in quadrature to the model's error at the moved row,
and the sum scaled the same way on held-out rows moved outside the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.stats import rankdata

from scoring.support import Support

N_TERMS = 3


def error_terms(outputs: np.ndarray, base: np.ndarray, probability: bool, leverage: np.ndarray) -> np.ndarray:
    """(n, K, N_TERMS): the error model's regressors for each row and output; `leverage` (n, K)."""
    n, k = outputs.shape
    terms = np.empty((n, k, N_TERMS))
    terms[..., 0] = 1.0
    terms[..., 1] = outputs * (1.0 - outputs) if probability else np.abs(outputs - base[None, :])
    terms[..., 2] = leverage
    return terms


def fit_error_weights(terms: np.ndarray, squared_error: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative weights of the terms for the squared errors (n, K), and a floor (a small
    share of the mean) so that no row is ever stated exact."""
    target = np.asarray(squared_error, dtype=float).ravel()
    weights, _ = nnls(terms.reshape(-1, terms.shape[-1]), target)
    floor = 1e-3 * max(float(np.mean(np.maximum(target, 0.0))), np.finfo(float).tiny)
    return weights, floor


def median_scale(actual: np.ndarray, stated: np.ndarray) -> float:
    """The factor that makes the median of actual / stated equal to 1 (1 when nothing to use)."""
    ok = stated > 0
    if not ok.any():
        return 1.0
    scale = float(np.median(actual[ok] / stated[ok]))
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two vectors (average ranks for ties)."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.asarray(rankdata(x), dtype=float)


def agreement(stated: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    """How well stated per-row errors track actual ones: rank correlation and median ratio."""
    stated, actual = np.ravel(stated), np.ravel(actual)
    ratio = actual / np.maximum(stated, np.finfo(float).tiny)
    return {
        "rows": len(stated),
        "spearman": spearman(stated, actual),
        "median_actual_over_stated": float(np.median(ratio)),
        "median_stated": float(np.median(stated)),
        "median_actual": float(np.median(actual)),
    }


def shift_rows(
    X: np.ndarray,
    support: Support,
    rng: np.random.Generator,
    *,
    max_features: int = 2,
    reach: tuple[float, float] = (0.05, 1.0),
) -> np.ndarray:
    """Copies of numeric rows with 1 to `max_features` columns each moved outside the training
    range: beyond the minimum or the maximum by a uniform share `reach` of the range."""
    X = np.array(X, dtype=float)
    span = support.upper - support.lower
    movable = np.flatnonzero(np.isfinite(span) & (span > 0))
    if len(movable) == 0:
        return X
    for row in X:
        count = int(rng.integers(1, min(max_features, len(movable)) + 1))
        for j in rng.choice(movable, size=count, replace=False):
            u = rng.uniform(*reach) * span[j]
            row[j] = support.upper[j] + u if rng.random() < 0.5 else support.lower[j] - u
    return X


@dataclass(frozen=True)
class Parts:
    """One batch's values and outputs, and the stated error of the values at the rows moved
    inside the support (n, K)."""

    values: np.ndarray
    outputs: np.ndarray
    inside: np.ndarray


def actual_error(values: np.ndarray, reference: Any, noise: np.ndarray | None = None) -> np.ndarray:
    """(n, K) L2 distance over features to the reference, its own noise removed in quadrature,
    and `noise` (n, M, K), the values' own when they are an estimate too."""
    squared = ((values - reference.values) ** 2).sum(axis=1) - (reference.noise**2).sum(axis=1)
    if noise is not None:
        squared -= (noise**2).sum(axis=1)
    return np.sqrt(np.maximum(squared, 0.0))


def within_bound(values: np.ndarray, delta: np.ndarray, *, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Values clipped to [-bound, bound] (what any Shapley value of an output within [0, 1] can
    be), the efficiency residual given back to the features with room, and the amount each
    value moved (to add to its stated error)."""
    over = np.abs(values) > bound
    if not over.any():
        return values, np.zeros_like(values)
    clipped = np.clip(values, -bound, bound)
    residual = delta - clipped.sum(axis=1)  # (n, K)
    room = np.where(residual[:, None, :] > 0, bound - clipped, bound + clipped)
    total = room.sum(axis=1, keepdims=True)
    share = np.divide(room, total, out=np.zeros_like(room), where=total > 0)
    bounded = clipped + share * residual[:, None, :]
    return bounded, np.abs(bounded - values)
