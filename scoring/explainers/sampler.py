"""Shapley values sampled over an explainer's background summary: antithetic permutation walks
kept per walk (so that a later round adds to the earlier ones), a per-feature regression control
variate on x_j - b_j whose mean over the summary is known, and the variance of the estimate from
the spread of the antithetic pairs. Refinement (scoring.refine) runs it in rounds; the amortized
explainer runs one short round per out-of-range row to check its own values (`check_distance`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from scoring.background import Background
from scoring.explainers.permutation import MAX_ROWS_PER_CALL, _deal_weighted
from scoring.walks import walk_outputs

# below this many permutations a row's regression control variate is too noisy to fit
CONTROL_MIN_PERMUTATIONS = 16


class SummarySampler:
    """Antithetic permutation walks from the rows of a background summary to the rows of X."""

    def __init__(
        self,
        f: Callable[[np.ndarray], np.ndarray],
        summary: Background,
        X: np.ndarray,
        rng: np.random.Generator,
        *,
        outputs: np.ndarray | None = None,
        summary_outputs: np.ndarray | None = None,
    ):
        self.f = f
        self.summary = summary
        self.mean = summary.weights @ summary.rows
        self.X = X
        self.rng = rng
        self.fx = f(X) if outputs is None else outputs
        self.f_summary = f(summary.rows) if summary_outputs is None else summary_outputs
        self.extra_evaluations = 0
        self.gains: list[np.ndarray] = []  # (n, P, M, K) per round
        self.offsets: list[np.ndarray] = []  # (n, P, M): x_j - b_j per walk

    @property
    def permutations(self) -> int:
        return int(sum(g.shape[1] for g in self.gains))

    def run(self, n_permutations: int, rngs: list[np.random.Generator] | None = None) -> None:
        """Add `n_permutations` walks per row (half of them the reverses of the others); with
        `rngs`, each row draws its own from its own generator."""
        X, f = self.X, self.f
        n, m = X.shape
        half = n_permutations // 2
        weights = self.summary.weights
        if rngs is None:
            order = np.argsort(self.rng.random((n, half, m)), axis=2)
            dealt = _deal_weighted(weights, n, half, self.rng)
        else:
            order = np.argsort(np.stack([r.random((half, m)) for r in rngs]), axis=2)
            dealt = np.vstack([_deal_weighted(weights, 1, half, r) for r in rngs])
        order = np.concatenate([order, order[:, :, ::-1]], axis=1)
        rank = np.argsort(order, axis=2)
        dealt = np.concatenate([dealt, dealt], axis=1)
        background = self.summary.rows[dealt]  # (n, P, M)
        inner = walk_outputs(f, X, background, order, rank)
        start = self.f_summary[dealt][:, :, None, :]
        end = np.broadcast_to(self.fx[:, None, None, :], (n, 2 * half, 1, self.fx.shape[1]))
        gain = np.diff(np.concatenate([start, inner, end], axis=2), axis=2)
        self.gains.append(np.take_along_axis(gain, rank[..., None], axis=2))
        self.offsets.append(X[:, None, :] - background)

    def estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, variance) of the sampled values over the summary, each (n, M, K)."""
        gain = np.concatenate(self.gains, axis=1)
        offset = np.concatenate(self.offsets, axis=1)
        p = gain.shape[1]
        if p >= CONTROL_MIN_PERMUTATIONS:
            d = offset - offset.mean(axis=1, keepdims=True)
            centred = gain - gain.mean(axis=1, keepdims=True)
            slope = (centred * d[..., None]).sum(axis=1) / np.maximum((d**2).sum(axis=1), 1e-300)[..., None]
            walks = gain - slope[:, None] * offset[..., None]
            known = slope * (self.X - self.mean)[..., None]
        else:
            walks, known = gain, 0.0
        # antithetic pairs share a background row: the pair means are the independent units
        pairs = _pair_means(walks, [g.shape[1] for g in self.gains])
        values = walks.mean(axis=1) + known
        variance = pairs.var(axis=1, ddof=1) / pairs.shape[1]
        return values, variance


def _pair_means(walks: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Mean of each walk and its reversed twin (the second half of each round's walks)."""
    out, start = [], 0
    for size in sizes:
        half = size // 2
        block = walks[:, start : start + size]
        out.append((block[:, :half] + block[:, half:]) / 2)
        start += size
    return np.concatenate(out, axis=1)


def check_distance(
    f: Callable[[np.ndarray], np.ndarray],
    summary: Background,
    X: np.ndarray,
    outputs: np.ndarray,
    values: np.ndarray,
    *,
    n_permutations: int,
    seed: int,
    summary_outputs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, K) an unbiased estimate of ||values - phi||^2 per row and output, phi the Shapley
    values over `summary`: ||values - sampled||^2 less the sampled estimate's own variance
    (may be negative when the values are within the sampling noise of phi); and (n, M, K) the
    squared differences per feature, for sharing it out. Each row's walks are seeded by the row
    itself, so a row's check never depends on the rows checked with it. `summary_outputs`:
    f at the summary's rows, when the caller keeps them."""
    n, m = X.shape
    distance = np.zeros(outputs.shape)
    squares = np.zeros(values.shape)
    if n == 0 or m < 2:
        return distance, squares
    X = np.ascontiguousarray(X, dtype=float)
    if summary_outputs is None:
        summary_outputs = f(summary.rows)
    per_call = max(1, MAX_ROWS_PER_CALL // (n_permutations * (m - 1)))
    for start in range(0, n, per_call):
        rows = slice(start, min(n, start + per_call))
        rngs = [np.random.default_rng([seed, zlib.crc32(row.tobytes())]) for row in X[rows]]
        sampler = SummarySampler(
            f, summary, X[rows], rngs[0], outputs=outputs[rows], summary_outputs=summary_outputs
        )
        sampler.run(n_permutations, rngs)
        sampled, variance = sampler.estimate()
        squares[rows] = (values[rows] - sampled) ** 2
        distance[rows] = squares[rows].sum(axis=1) - variance.sum(axis=1)
    return distance, squares
