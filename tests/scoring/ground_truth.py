"""Brute-force Shapley values, written independently of `scoring` (no coalitions.py).

v(S) = sum_b w_b f(x_S, bg_b): the interventional value function over a weighted background.
Every subset is enumerated with itertools and its hybrid rows are built by a plain Python loop;
the model is called once per row explained, on every hybrid, so small problems stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np


def value_function(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    background: np.ndarray,
    weights: np.ndarray,
) -> dict[frozenset[int], np.ndarray]:
    """v(S) for every subset S of the features of row `x`; each value is a (K,) vector."""
    m, n_bg = len(x), len(background)
    subsets = [frozenset(c) for size in range(m + 1) for c in combinations(range(m), size)]
    hybrid = []
    for present in subsets:
        block = np.array(background, dtype=float)  # every background row ...
        for j in present:
            block[:, j] = x[j]  # ... with the features in S taken from x
        hybrid.append(block)
    # one model call for every hybrid row: the model is the slow part, not the loops
    out = np.asarray(f(np.concatenate(hybrid)), dtype=float).reshape(len(subsets) * n_bg, -1)
    values: dict[frozenset[int], np.ndarray] = {}
    for i, present in enumerate(subsets):
        values[present] = weights @ out[i * n_bg : (i + 1) * n_bg]  # sum_b w_b f(x_S, bg_b)
    return values


def shapley_values(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    background: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(phi (M, K), v(empty set) (K,)) by the definition:
    phi_j = sum over S not containing j of |S|! (M - |S| - 1)! / M! * (v(S + j) - v(S))."""
    x = np.asarray(x, dtype=float)
    m = len(x)
    v = value_function(f, x, np.asarray(background, dtype=float), np.asarray(weights, dtype=float))
    k = len(v[frozenset()])
    phi = np.zeros((m, k))
    for j in range(m):
        others = [i for i in range(m) if i != j]
        for size in range(m):
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            for subset in combinations(others, size):
                s = frozenset(subset)
                phi[j] += weight * (v[s | {j}] - v[s])
    return phi, v[frozenset()]


def shapley_table(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(phi (n, M, K), base (K,)) for every row of X."""
    phis, base = [], None
    for x in np.asarray(X, dtype=float):
        phi, base = shapley_values(f, x, background, weights)
        phis.append(phi)
    assert base is not None
    return np.stack(phis), base


def relative_error(values: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per (row, output): ||phi - truth|| / ||truth|| over the features (axis 1)."""
    return np.linalg.norm(values - truth, axis=1) / np.linalg.norm(truth, axis=1)
