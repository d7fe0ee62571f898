"""Coalitions: evaluating the interventional value function, enumerating or sampling subsets,
and solving the efficiency-constrained Shapley regression."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from math import comb, factorial

import numpy as np

from scoring.background import Background
from scoring.errors import ParameterError

# Hybrid rows sent to the model in one call; bounds memory (rows x features x 8 bytes).
MAX_ROWS_PER_CALL = 250_000


def coalition_values(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    masks: np.ndarray,
    background: Background,
    *,
    rows: np.ndarray | None = None,
    max_rows: int = MAX_ROWS_PER_CALL,
) -> np.ndarray:
    """v[i, c, k] = sum_b w_b f(x_i on masks[c], background_b elsewhere)[k]; shape (n, C, K).

    With `rows` (C, r) of background row indices, coalition c is evaluated on its own r rows
    only, equally weighted (rows drawn in proportion to the weights, see `assign_background`,
    estimate the same value without bias). Every (row, coalition, background) hybrid goes to the
    model in as few calls as `max_rows` allows.
    """
    if rows is not None:
        return coalition_outputs(f, X, masks, background, rows, max_rows=max_rows).mean(axis=2)
    n, m = X.shape
    c_total = masks.shape[0]
    bg, w = background.rows, background.weights
    b = bg.shape[0]
    pairs = n * c_total
    per_call = max(1, max_rows // b)
    chunks = []
    for start in range(0, pairs, per_call):
        idx = np.arange(start, min(pairs, start + per_call))
        i, coals = np.divmod(idx, c_total)
        hybrid = np.where(masks[coals][:, None, :], X[i][:, None, :], bg[None, :, :])
        y = f(hybrid.reshape(-1, m))
        chunks.append(np.einsum("pbk,b->pk", y.reshape(len(idx), b, -1), w))
    v = np.concatenate(chunks, axis=0)
    return v.reshape(n, c_total, -1)


def coalition_outputs(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    masks: np.ndarray,
    background: Background,
    rows: np.ndarray,
    *,
    max_rows: int = MAX_ROWS_PER_CALL,
) -> np.ndarray:
    """y[i, c, j, k] = f(x_i on masks[c], background row rows[c, j] elsewhere)[k]; (n, C, r, K)."""
    n, m = X.shape
    c_total, r = rows.shape
    per_coalition = background.rows[rows]  # (C, r, m)
    pairs = n * c_total
    per_call = max(1, max_rows // r)
    chunks = []
    for start in range(0, pairs, per_call):
        idx = np.arange(start, min(pairs, start + per_call))
        i, coals = np.divmod(idx, c_total)
        hybrid = np.where(masks[coals][:, None, :], X[i][:, None, :], per_coalition[coals])
        chunks.append(f(hybrid.reshape(-1, m)).reshape(len(idx), r, -1))
    y = np.concatenate(chunks, axis=0)
    return y.reshape(n, c_total, r, -1)


def assign_background(masks: np.ndarray, weights: np.ndarray, r: int, *, seed: int) -> np.ndarray:
    """(C, r) background row indices: r rows for each coalition, the same for a coalition and its
    complement, drawn in proportion to `weights` by systematic sampling, so that every row is
    used as often as its weight says (to within one) and the value estimate stays unbiased."""
    rng = np.random.default_rng(seed)
    canonical = np.where(masks[:, :1], masks, ~masks)  # a coalition and its complement agree
    _, group = np.unique(canonical, axis=0, return_inverse=True)
    group = np.asarray(group).ravel()
    n_draws = (int(group.max()) + 1) * r
    cdf = np.cumsum(weights)
    points = (rng.random() + np.arange(n_draws)) / n_draws
    drawn = np.minimum(np.searchsorted(cdf / cdf[-1], points, side="right"), len(weights) - 1)
    return rng.permutation(drawn).reshape(-1, r)[group]


def all_masks(m: int) -> np.ndarray:
    """Every subset of m features, as a (2^m, m) boolean array indexed by its bit pattern."""
    codes = np.arange(2**m)
    return ((codes[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)


def exact_shapley(v: np.ndarray, m: int) -> np.ndarray:
    """Shapley values (n, m, K) from the value of every subset v (n, 2^m, K) by the definition."""
    codes = np.arange(2**m)
    sizes = np.array([bin(c).count("1") for c in codes])
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)])
    phi = np.empty((v.shape[0], m, v.shape[2]))
    for j in range(m):
        bit = 1 << j
        without = codes[(codes & bit) == 0]
        phi[:, j, :] = np.einsum("c,nck->nk", weight[sizes[without]], v[:, without | bit] - v[:, without])
    return phi


def kernel_weight(m: int, s: int) -> float:
    """The Shapley kernel weight of one coalition of size s (0 < s < m)."""
    return (m - 1) / (comb(m, s) * s * (m - s))


@dataclass(frozen=True)
class Design:
    """Coalitions (C, M), their regression weights (C,), and which ones were sampled (stratum id,
    -1 when enumerated) so a bootstrap can resample them."""

    masks: np.ndarray
    weights: np.ndarray
    strata: np.ndarray
    pair_ids: np.ndarray


def make_design(m: int, budget: int, *, sampling: str, seed: int) -> Design:
    """Coalitions for KernelSHAP with at most `budget` subsets (empty and full excluded).

    Size strata {s, m - s} are enumerated completely, smallest first, while the budget covers
    them and the sampling plan would give them at least their size; the rest are sampled in
    complementary pairs, uniformly within a size and without replacement. Strata get samples in
    proportion to `sampling`: "leverage" (uniform over sizes: the leverage scores of the Shapley
    regression, Musco & Witter 2024) or "kernel" (the Shapley kernel's mass, as shap does).
    Each sampled coalition weighs its stratum's kernel mass over the number drawn there.
    """
    if sampling not in ("leverage", "kernel"):
        raise ParameterError(f"sampling must be 'leverage' or 'kernel', got {sampling!r}")
    rng = np.random.default_rng(seed)
    strata_sizes = list(range(1, m // 2 + 1))  # stratum s holds sizes s and m - s
    n_subsets = {s: comb(m, s) * (1 if 2 * s == m else 2) for s in strata_sizes}
    mass = {s: kernel_weight(m, s) * n_subsets[s] for s in strata_sizes}
    if sampling == "kernel":
        prior = dict(mass)
    else:
        prior = {s: 1.0 if 2 * s == m else 2.0 for s in strata_sizes}

    masks: list[np.ndarray] = []
    weights: list[float] = []
    strata: list[int] = []
    pair_ids: list[int] = []
    left = min(budget, 2**m - 2)
    remaining = list(strata_sizes)
    while remaining:
        s = remaining[0]
        share = prior[s] / sum(prior[q] for q in remaining)
        if left * share < n_subsets[s]:
            break
        for subset in _subsets_of_size(m, s):
            group = [subset] if 2 * s == m else [subset, ~subset]
            for mask in group:
                masks.append(mask)
                weights.append(kernel_weight(m, s))
                strata.append(-1)
                pair_ids.append(len(pair_ids))
        left -= n_subsets[s]
        remaining.pop(0)

    n_pairs_left = left // 2
    if remaining and n_pairs_left > 0:
        caps = [n_subsets[s] // 2 for s in remaining]
        alloc = _allocate(n_pairs_left, [prior[s] for s in remaining], caps)
        next_pair = len(pair_ids)
        for stratum, (s, n_pairs) in enumerate(zip(remaining, alloc, strict=True)):
            drawn = _sample_subsets(m, s, n_pairs, rng, middle=2 * s == m)
            for subset in drawn:
                for mask in (subset, ~subset):
                    masks.append(mask)
                    weights.append(mass[s] / (2 * len(drawn)))
                    strata.append(stratum)
                    pair_ids.append(next_pair)
                next_pair += 1
    return Design(
        masks=np.array(masks, dtype=bool).reshape(-1, m),
        weights=np.array(weights),
        strata=np.array(strata, dtype=int),
        pair_ids=np.array(pair_ids, dtype=int),
    )


def _subsets_of_size(m: int, s: int) -> list[np.ndarray]:
    out = []
    for combo in combinations(range(m), s):
        mask = np.zeros(m, dtype=bool)
        mask[list(combo)] = True
        out.append(mask)
    return out


def _allocate(total: int, prior: list[float], cap: list[int]) -> list[int]:
    """Split `total` pairs over strata in proportion to `prior`, none above its cap."""
    alloc = [0] * len(prior)
    active = [i for i in range(len(prior)) if cap[i] > 0]
    left = total
    while left > 0 and active:
        z = sum(prior[i] for i in active)
        share = {i: left * prior[i] / z for i in active}
        full = [i for i in active if alloc[i] + share[i] >= cap[i]]
        if full:
            for i in full:
                left -= cap[i] - alloc[i]
                alloc[i] = cap[i]
                active.remove(i)
            continue
        floors = {i: int(np.floor(share[i])) for i in active}
        for i in active:
            alloc[i] += floors[i]
        left -= sum(floors.values())
        # largest remainders get the last few
        order = sorted(active, key=lambda i: share[i] - floors[i], reverse=True)
        for i in order[:left]:
            alloc[i] += 1
        left = 0
    return alloc


def _sample_subsets(m: int, s: int, n: int, rng: np.random.Generator, *, middle: bool) -> list[np.ndarray]:
    """n distinct subsets of size s (for the middle stratum, distinct up to complement).

    Drawn in blocks: each random permutation of the features is cut into m // s disjoint
    subsets, so every feature is drawn about equally often while each subset is still uniform
    over its size (fewer unbalanced designs: lower variance at M=30, the same at M=10).
    """
    seen: set[bytes] = set()
    out: list[np.ndarray] = []
    tries = 0
    while len(out) < n and tries < 50 * n + 100:
        perm = rng.permutation(m)
        for start in range(0, m - s + 1, s):
            tries += 1
            mask = np.zeros(m, dtype=bool)
            mask[perm[start : start + s]] = True
            key = mask.tobytes()
            if key in seen:
                continue
            seen.add(key)
            if middle:
                seen.add((~mask).tobytes())
            out.append(mask)
            if len(out) == n:
                break
    return out


def shapley_operator(masks: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G, h) with phi = G @ (v - v0) + h * (f(x) - v0): the weighted least-squares fit of
    v(S) - v0 ~ sum_{j in S} phi_j under the efficiency constraint sum(phi) = f(x) - v0."""
    z = masks.astype(float)
    m = z.shape[1]
    a = z.T @ (weights[:, None] * z)
    a_inv = np.linalg.pinv(a) if np.linalg.matrix_rank(a) < m else np.linalg.inv(a)
    ones = np.ones(m)
    a1 = a_inv @ ones
    h = a1 / (ones @ a1)
    g = (np.eye(m) - np.outer(h, ones)) @ a_inv @ (z.T * weights[None, :])
    return g, h
