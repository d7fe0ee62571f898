"""Unbiased Shapley estimates by antithetic permutation sampling over a background of real rows.

Each sampled permutation walks from a background row b to the explained row x, switching one
feature at a time to x's value; the change in f at each step is that feature's marginal
contribution. Averaged over uniformly random permutations and background rows this is exactly
the interventional Shapley value over the background (no regression, no design bias), and each
walk adds up to f(x) - f(b). Permutations come in reversed pairs (antithetic) and background rows
are dealt from shuffled passes over the background (stratified), which halves the noise here
compared with drawing them independently.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scoring.errors import ParameterError
from scoring.walks import walk_outputs

# hybrid rows sent to the model in one call
MAX_ROWS_PER_CALL = 200_000


def permutation_shapley(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    *,
    n_permutations: int,
    rng: np.random.Generator,
    outputs: np.ndarray | None = None,
    background_outputs: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    max_rows: int = MAX_ROWS_PER_CALL,
) -> np.ndarray:
    """(n, M, K) estimates of the Shapley values of f at each row of X, over `background`:
    uniform, or with `weights` (summing to 1, e.g. a k-means summary's cluster shares).

    Costs n x n_permutations x (M - 1) model evaluations; `outputs` (f(X)) and
    `background_outputs` (f(background)) are computed when not given.
    """
    if n_permutations < 2 or n_permutations % 2:
        raise ParameterError(f"n_permutations must be even and >= 2, got {n_permutations}")
    X = np.asarray(X, dtype=float)
    background = np.asarray(background, dtype=float)
    n, m = X.shape
    fx = f(X) if outputs is None else outputs
    fb = f(background) if background_outputs is None else background_outputs
    k = fx.shape[1]
    half = n_permutations // 2
    order = np.argsort(rng.random((n, half, m)), axis=2)
    order = np.concatenate([order, order[:, :, ::-1]], axis=1)  # (n, P, M)
    rank = np.argsort(order, axis=2)  # rank[i, p, j]: the step at which feature j switches to x
    dealt = _deal(len(background), n, half, rng) if weights is None else _deal_weighted(weights, n, half, rng)
    dealt = np.concatenate([dealt, dealt], axis=1)  # each reversed pair shares its background row
    values = np.empty((n, m, k))
    per_call = max(1, max_rows // max(1, n_permutations * (m - 1)))
    for start in range(0, n, per_call):
        rows = slice(start, min(n, start + per_call))
        count = rows.stop - start
        chain_parts = [fb[dealt[rows]][:, :, None, :]]
        if m > 1:
            inner = walk_outputs(f, X[rows], background, order[rows], rank[rows], index=dealt[rows])
            chain_parts.append(inner)
        chain_parts.append(np.broadcast_to(fx[rows, None, None, :], (count, n_permutations, 1, k)))
        step_gain = np.diff(np.concatenate(chain_parts, axis=2), axis=2)  # (count, P, M, K) by step
        values[rows] = np.take_along_axis(step_gain, rank[rows][..., None], axis=2).mean(axis=1)
    return values


def _deal_weighted(weights: np.ndarray, n: int, per_row: int, rng: np.random.Generator) -> np.ndarray:
    """(n, per_row) background indices drawn in proportion to `weights`: systematic sampling
    (one uniform offset per row, evenly spaced after it), shuffled within each row."""
    cdf = np.cumsum(weights) / np.sum(weights)
    u = (rng.random((n, 1)) + np.arange(per_row)) / per_row
    picked = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
    return rng.permuted(picked, axis=1)


def _deal(n_background: int, n: int, per_row: int, rng: np.random.Generator) -> np.ndarray:
    """(n, per_row) background indices: every background row equally often (up to one) within a
    row when it asks for at least one pass; else dealt in order from shuffled passes, so each
    row's are (nearly always) distinct and all rows together cover the background evenly."""
    tile = np.arange(n_background)
    if per_row >= n_background:
        passes = -(-per_row // n_background)
        deck = rng.permuted(np.tile(tile, (n * passes, 1)), axis=1)
        return deck.reshape(n, passes * n_background)[:, :per_row]
    passes = -(-n * per_row // n_background)
    deck = rng.permuted(np.tile(tile, (passes, 1)), axis=1).ravel()
    return deck[: n * per_row].reshape(n, per_row)
