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
# gains held at once while a round runs (rows x walks x features x outputs)
BLOCK_ELEMENTS = 1 << 19


class SummarySampler:
    """Antithetic permutation walks from the rows of a background summary to the rows of X.

    A walk and its reversed twin share a background row, so the pair's mean G is the independent
    unit. The walks are not kept: each round adds, per (row, summary row b), the count of pairs
    and the sums of G and G^2 over them. Every pair from b has the same offsets o = x - b, so
    these are all the estimate and its variance need (memory and time per estimate do not grow
    with the permutations).

    Background rows are dealt systematically (each summary row about its weight's share of the
    pairs), so the spread of all pairs overstates the noise: measured on the default SVC, the
    squared difference of two independent estimates was half their stated variances at 512
    permutations. Once every summary row of a row's walks has two pairs, the estimate is
    post-stratified: the weighted mean of each summary row's pairs, its variance from the spread
    within each summary row. Until then, the mean of all pairs less a regression control variate
    on o, its variance from the spread of all pairs.
    """

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
        self.pairs = 0
        n, m = X.shape
        # per summary row b: pairs (n, B), and the sums of G, G^2 over them (n * B, M * K)
        b = summary.size
        self.counts = np.zeros((n, b))
        self.strata = {name: np.zeros((n * b, m * self.fx.shape[1])) for name in ("g", "gg")}

    @property
    def permutations(self) -> int:
        return 2 * self.pairs

    def run(self, n_permutations: int, rngs: list[np.random.Generator] | None = None) -> None:
        """Add `n_permutations` walks per row (half of them the reverses of the others); with
        `rngs`, each row draws its own from its own generator."""
        X = self.X
        n, m = X.shape
        half = n_permutations // 2
        weights = self.summary.weights
        if rngs is None:
            order = np.argsort(self.rng.random((n, half, m)), axis=2)
            dealt = _deal_weighted(weights, n, half, self.rng)
        else:
            order = np.argsort(np.stack([r.random((half, m)) for r in rngs]), axis=2)
            dealt = np.vstack([_deal_weighted(weights, 1, half, r) for r in rngs])
        # a block of pairs at a time, so that no round holds all its walks' gains at once
        block = max(1, BLOCK_ELEMENTS // max(1, 2 * n * m * self.fx.shape[1]))
        for start in range(0, half, block):
            pairs = slice(start, min(half, start + block))
            self._add(order[:, pairs], dealt[:, pairs])
        self.pairs += half

    def _add(self, order: np.ndarray, dealt: np.ndarray) -> None:
        """Walk the pairs of (n, Q, M) orders from (n, Q) summary rows and add them to the sums."""
        X, q = self.X, order.shape[1]
        order = np.concatenate([order, order[:, :, ::-1]], axis=1)
        rank = np.argsort(order, axis=2)
        index = np.concatenate([dealt, dealt], axis=1)  # (n, 2Q): each walk's summary row
        inner = walk_outputs(self.f, X, self.summary.rows, order, rank, index=index)
        start = self.f_summary[dealt][:, :, None, :]
        start = np.concatenate([start, start], axis=1)
        end = np.broadcast_to(self.fx[:, None, None, :], (len(X), 2 * q, 1, self.fx.shape[1]))
        gain = np.diff(np.concatenate([start, inner, end], axis=2), axis=2)
        gain = np.take_along_axis(gain, rank[..., None], axis=2)
        pair = (gain[:, :q] + gain[:, q:]) / 2  # (n, Q, M, K)
        n, b = self.counts.shape
        cells = (np.arange(n)[:, None] * b + dealt).ravel()
        flat = pair.reshape(n * q, -1)
        np.add.at(self.counts.reshape(-1), cells, 1.0)
        np.add.at(self.strata["g"], cells, flat)
        np.add.at(self.strata["gg"], cells, flat**2)

    def estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, variance) of the sampled values over the summary, each (n, M, K)."""
        n, b = self.counts.shape
        shape = (n, b, self.X.shape[1], self.fx.shape[1])
        g, gg = (self.strata[name].reshape(shape) for name in ("g", "gg"))
        values, variance = self._regression(g, gg)
        weights = self.summary.weights
        stratified = ((self.counts >= 2) | (weights == 0)[None, :]).all(axis=1)
        if stratified.any():
            counts = np.maximum(self.counts, 1.0)[:, :, None, None]
            means = g / counts
            spread = np.maximum(gg - counts * means**2, 0.0)
            within = spread / np.maximum(counts - 1, 1.0) / counts
            values[stratified] = np.einsum("b,nbmk->nmk", weights, means)[stratified]
            variance[stratified] = np.einsum("b,nbmk->nmk", weights**2, within)[stratified]
        return values, variance

    def _regression(self, g: np.ndarray, gg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean of all pairs less the regression control variate, and its variance from the
        spread of all pairs; g, gg (n, B, M, K) the sums of G, G^2 over each summary row's pairs,
        whose offsets o = x - b are that row's."""
        q = self.pairs
        offset = self.X[:, None, :] - self.summary.rows[None]  # (n, B, M)
        s = {
            "g": g.sum(axis=1),
            "gg": gg.sum(axis=1),
            "go": np.einsum("nbmk,nbm->nmk", g, offset),
            "o": np.einsum("nb,nbm->nm", self.counts, offset)[..., None],
            "oo": np.einsum("nb,nbm->nm", self.counts, offset**2)[..., None],
        }
        g_mean, o_mean = s["g"] / q, s["o"] / q
        fitted = 2 * q >= CONTROL_MIN_PERMUTATIONS
        if fitted:
            spread = s["oo"] - q * o_mean**2
            slope = (s["go"] - q * g_mean * o_mean) / np.maximum(spread, 1e-300)
            known = slope * (self.X - self.mean)[..., None]
        else:
            slope, known = np.zeros_like(g_mean), 0.0
        # the pairs' values less the control variate: G - slope o, their mean and spread (less
        # one degree of freedom for the slope)
        mean = g_mean - slope * o_mean
        dof = q - 1 - int(fitted)
        if dof < 1:  # no spread to tell the noise by
            return mean + known, np.full_like(mean, np.inf)
        squares = s["gg"] - 2 * slope * s["go"] + slope**2 * s["oo"]
        variance = np.maximum(squares - q * mean**2, 0.0) / dof / q
        return mean + known, variance


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
