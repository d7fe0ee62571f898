"""The amortized explainer's map x -> g(x) and the leverage of its error model, compiled (numba).

One row at a time, in a fixed order: every sum runs over its terms in index order and is
vectorized across the outputs it fills, never reassociated, so a row's bits never depend on the
rows computed with it (the service's batches, the batch job's partitions), and a single row
pays for its own arithmetic only (BLAS picks its kernel, and so its order of summation, by the
shape of the whole product: a 1-row call sums in another order than a 200-row one, so products
had to run on blocks of 4 rows). On the default SVC a row's g and error took a dozen numpy
calls and four padded products, about 100 us of one explained row's 310; here two calls. Batches
pay for it: about 3x BLAS's time on those products, small beside the model's own calls.
Compiled on first use, about 1 s once a process.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=False, nogil=True)
def _times(x, W, out):  # type: ignore[no-untyped-def]
    """out += x @ W for one row x (m,), W (m, p): term by term over x, vectorized over out."""
    for i in range(W.shape[0]):
        xi = x[i]
        w = W[i]
        for c in range(out.shape[0]):
            out[c] += xi * w[c]


@numba.njit(cache=False, nogil=True)
def _waves(x, wave_in, wave_offset, count, out):  # type: ignore[no-untyped-def]
    """out[:count] = cos(x @ wave_in[:, :count] + wave_offset[:count])."""
    for c in range(count):
        out[c] = wave_offset[c]
    for i in range(wave_in.shape[0]):
        xi = x[i]
        w = wave_in[i]
        for c in range(count):
            out[c] += xi * w[c]
    for c in range(count):
        out[c] = np.cos(out[c])


@numba.njit(cache=False, nogil=True)
def g_rows(X, delta, effects, linear, intercept, wave_in, wave_offset, wave_out, effect_coef, out):  # type: ignore[no-untyped-def]
    """out (n, M, K): g at the rows X (n, M) with outputs less the base `delta` (n, K) and
    effects (n, M, K, T): x A + a + cos(x P + p) C read as (plain, scaled) x M x K, the plain
    half plus the scaled half times delta, plus each value's effects times its coefficients."""
    n, m = X.shape
    k = delta.shape[1]
    t_count = effect_coef.shape[2]
    width = intercept.shape[0]
    count = wave_offset.shape[0]
    row = np.empty(width)
    waves = np.empty(count)
    for r in range(n):
        x = X[r]
        for c in range(width):
            row[c] = intercept[c]
        _times(x, linear, row)
        _waves(x, wave_in, wave_offset, count, waves)
        _times(waves, wave_out, row)
        for j in range(m):
            for o in range(k):
                v = row[j * k + o] + row[m * k + j * k + o] * delta[r, o]
                for t in range(t_count):
                    v += effects[r, j, o, t] * effect_coef[j, o, t]
                out[r, j, o] = v


@numba.njit(cache=False, nogil=True)
def leverage_rows(X, delta, mean, scale, wave_in, wave_offset, count, factors, outputs, out):  # type: ignore[no-untyped-def]
    """out (n, len(outputs)): ||d W_k||^2 for each row's leverage design d = (b, b delta_k),
    b = (1, standardized x, sqrt(2 / count) cos(x P + p)[:count]), W_k = factors[k] for each
    output k in `outputs` (scoring.explainers.ridge.leverage_factors)."""
    n, m = X.shape
    width = 1 + m + count
    design = np.empty(2 * width)
    waves = np.empty(count)
    projected = np.empty(2 * width)
    norm = np.sqrt(2.0 / count)
    for r in range(n):
        x = X[r]
        _waves(x, wave_in, wave_offset, count, waves)
        design[0] = 1.0
        for j in range(m):
            design[1 + j] = (x[j] - mean[j]) / scale[j]
        for c in range(count):
            design[1 + m + c] = norm * waves[c]
        for i, o in enumerate(outputs):
            d = delta[r, o]
            for c in range(width):
                design[width + c] = design[c] * d
            projected[:] = 0.0
            _times(design, factors[o], projected)
            total = 0.0
            for c in range(2 * width):
                total += projected[c] * projected[c]
            out[r, i] = total
