"""The amortized explainer's regression helpers: ridge fits with exact leave-one-out residuals,
the fitted ridge's leverage of a new row, synthetic rows between neighbours, and the median
distance between rows."""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.neighbors import NearestNeighbors

# synthetic rows are interpolated between a row and one of this many nearest neighbours
NEIGHBOURS = 10
# each value's own regressors are penalized by this share of their mean squared size (only to
# keep a feature's all-zero effects solvable)
OWN_PENALTY = 1e-6


def output_design(basis: np.ndarray, delta_k: np.ndarray) -> np.ndarray:
    """Output k's regressors: the basis, and the basis times f_k(x) - base_k."""
    n, width = basis.shape
    design = np.empty((n, 2 * width))
    design[:, :width] = basis
    np.multiply(basis, delta_k[:, None], out=design[:, width:])
    return design


def ridge_loo(
    basis: np.ndarray,
    delta: np.ndarray,
    labels: np.ndarray,
    alphas: tuple[float, ...],
    effects: np.ndarray | None = None,
) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """For each penalty: coefficients (K, 2L, M) of the shared design, coefficients (M, K, T) of
    each value's own regressors `effects` (n, M, K, T; None: T = 0), and leave-one-out residuals
    (n, M, K). One ridge per output from the eigendecomposition of the shared design's Gram
    matrix; value j's own T regressors (almost unpenalized) join it by the Schur complement, so
    its fit and exact leave-one-out residuals (residual over 1 - leverage) cost T x T per value."""
    n, m, k = labels.shape
    if effects is None:
        effects = np.zeros((n, m, k, 0))
    t = effects.shape[-1]
    per_alpha: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
        (np.empty((k, 2 * basis.shape[1], m)), np.zeros((m, k, t)), np.empty((n, m, k))) for _ in alphas
    ]
    # two outputs that are each other's negative (a binary model's classes): fit one, mirror it
    mirrored = (
        k == 2
        and np.allclose(delta[:, 0], -delta[:, 1])
        and np.allclose(labels[..., 0], -labels[..., 1])
        and np.allclose(effects[:, :, 0], -effects[:, :, 1])
    )
    for out in range(k):
        if mirrored and out == 0:
            continue
        design = output_design(basis, delta[:, out])
        eigval, eigvec = np.linalg.eigh(design.T @ design)
        eigval = np.maximum(eigval, 0.0)
        rotated = design @ eigvec  # (n, 2L): the design in the eigenbasis
        y = labels[:, :, out]
        own = effects[:, :, out, :]  # (n, M, T)
        qty = rotated.T @ y
        qte = rotated.T @ own.reshape(n, m * t)
        rotated_sq = rotated**2
        for (coef, own_coef, loo), alpha in zip(per_alpha, alphas, strict=True):
            inverse = 1.0 / (eigval + alpha)
            fitted = rotated @ (inverse[:, None] * qty)
            leverage = np.broadcast_to((rotated_sq @ inverse)[:, None], y.shape).copy()
            target = y
            if t:
                # the part of each value's own regressors the shared design does not fit
                rest = own - (rotated @ (inverse[:, None] * qte)).reshape(n, m, t)
                schur = np.einsum("nja,njb->jab", own, rest)
                size = np.trace(schur, axis1=1, axis2=2)[:, None, None] / t
                schur += (OWN_PENALTY * size + 1e-12) * np.eye(t)
                beta = np.linalg.solve(schur, np.einsum("nja,nj->ja", rest, y)[..., None])[..., 0]
                own_coef[:, out] = beta
                fitted = fitted + np.einsum("nja,ja->nj", rest, beta)
                leverage += np.einsum("nja,jab,njb->nj", rest, np.linalg.inv(schur), rest)
                target = y - np.einsum("nja,ja->nj", own, beta)
            coef[out] = eigvec @ (inverse[:, None] * (rotated.T @ target))
            loo[:, :, out] = (y - fitted) / np.maximum(1.0 - leverage, 1e-9)
    if mirrored:
        n_basis = basis.shape[1]
        for coef, own_coef, loo in per_alpha:
            # output 0's design is [B, -B delta_1], its labels and own regressors are negated
            coef[0, :n_basis], coef[0, n_basis:] = -coef[1, :n_basis], coef[1, n_basis:]
            own_coef[:, 0] = own_coef[:, 1]
            loo[:, :, 0] = -loo[:, :, 1]
    return [
        (alpha, coef, own_coef, loo) for alpha, (coef, own_coef, loo) in zip(alphas, per_alpha, strict=True)
    ]


def interpolate(X: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows on segments between a row and one of its nearest neighbours (standardized)."""
    if count == 0:
        return np.empty((0, X.shape[1]))
    scale = X.std(axis=0)
    z = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    k = min(NEIGHBOURS + 1, len(X))
    _, neighbours = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    start = rng.integers(len(X), size=count)
    end = neighbours[start, rng.integers(1, k, size=count)] if k > 1 else start
    t = rng.random((count, 1))
    return X[start] + t * (X[end] - X[start])


def median_distance(z: np.ndarray, rng: np.random.Generator, pairs: int = 2000) -> float:
    i = rng.integers(len(z), size=pairs)
    j = rng.integers(len(z), size=pairs)
    d = np.sqrt(((z[i] - z[j]) ** 2).sum(axis=1))
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0


def leverage_factors(basis: np.ndarray, delta: np.ndarray, alpha: float) -> np.ndarray:
    """(K, 2L, 2L) W_k with ||d W_k||^2 = d (D_k'D_k + alpha I)^-1 d', the ridge's leverage of a
    row with design d (its predictive variance in units of the label noise), per output k."""
    factors = []
    for out in range(delta.shape[1]):
        design = output_design(basis, delta[:, out])
        gram = design.T @ design + alpha * np.eye(design.shape[1])
        lower = np.linalg.cholesky(gram)
        factors.append(solve_triangular(lower, np.eye(len(lower)), lower=True).T)
    return np.stack(factors)
