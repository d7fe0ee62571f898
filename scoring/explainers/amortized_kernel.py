"""The amortized explainer's map x -> g(x) and the leverage of its error model, compiled (numba).

Rows in blocks of BLOCK, each in a fixed order: every sum runs over its terms in index order and
is vectorized across the outputs it fills, never reassociated, so a row's bits never depend on
the rows computed with it (the service's batches, the batch job's partitions), and a single row
pays for its own arithmetic only (BLAS picks its kernel, and so its order of summation, by the
shape of the whole product: a 1-row call sums in another order than a 200-row one, so products
had to run on padded blocks of 4 rows). On the default SVC a row's g and error took a dozen
numpy calls and four padded products, about 100 us of one explained row's 310; here two calls.
A block reads each fitted matrix row once, so 32 rows cost what BLAS's blocks did.
Compiled on first use, about 1 s once a process.
"""

from __future__ import annotations

import numba
import numpy as np

# rows computed together: each fitted matrix row is read once per block, not once per row (the
# same sums in the same order for each row, so the same bits in a block of any size)
BLOCK = 4


@numba.njit(cache=False, nogil=True)
def _times(X, count, W, out):  # type: ignore[no-untyped-def]
    """out[:count] += X[:count] @ W[:, :P], P = out's width (<= W's): term by term over X's
    columns, vectorized over out's."""
    for i in range(W.shape[0]):
        w = W[i]
        for r in range(count):
            xi = X[r, i]
            o = out[r]
            for c in range(o.shape[0]):
                o[c] += xi * w[c]


@numba.njit(cache=False, nogil=True)
def _waves(X, count, wave_in, wave_offset, out):  # type: ignore[no-untyped-def]
    """out[:count] = cos(X[:count] @ wave_in[:, :C] + wave_offset[:C]), C = out's width."""
    width = out.shape[1]
    for r in range(count):
        for c in range(width):
            out[r, c] = wave_offset[c]
    _times(X, count, wave_in, out)
    for r in range(count):
        for c in range(width):
            out[r, c] = np.cos(out[r, c])


@numba.njit(cache=False, nogil=True)
def g_rows(X, delta, effects, linear, intercept, wave_in, wave_offset, wave_out, effect_coef, out):  # type: ignore[no-untyped-def]
    """out (n, M, K): g at the rows X (n, M) with outputs less the base `delta` (n, K) and
    effects (n, M, K, T): x A + a + cos(x P + p) C read as (plain, scaled) x M x K, the plain
    half plus the scaled half times delta, plus each value's effects times its coefficients."""
    n, m = X.shape
    k = delta.shape[1]
    t_count = effect_coef.shape[2]
    width = intercept.shape[0]
    rows = np.empty((BLOCK, width))
    waves = np.empty((BLOCK, wave_offset.shape[0]))
    for start in range(0, n, BLOCK):
        count = min(BLOCK, n - start)
        block = X[start : start + count]
        for r in range(count):
            for c in range(width):
                rows[r, c] = intercept[c]
        _times(block, count, linear, rows)
        _waves(block, count, wave_in, wave_offset, waves)
        _times(waves, count, wave_out, rows)
        for r in range(count):
            row = rows[r]
            for j in range(m):
                for o in range(k):
                    v = row[j * k + o] + row[m * k + j * k + o] * delta[start + r, o]
                    for t in range(t_count):
                        v += effects[start + r, j, o, t] * effect_coef[j, o, t]
                    out[start + r, j, o] = v


@numba.njit(cache=False, nogil=True)
def leverage_rows(X, delta, mean, scale, wave_in, wave_offset, count, factors, outputs, out):  # type: ignore[no-untyped-def]
    """out (n, len(outputs)): ||d W_k||^2 for each row's leverage design d = (b, b delta_k),
    b = (1, standardized x, sqrt(2 / count) cos(x P + p)[:count]), W_k = factors[k] for each
    output k in `outputs` (scoring.explainers.ridge.leverage_factors)."""
    n, m = X.shape
    width = 1 + m + count
    design = np.empty((BLOCK, 2 * width))
    waves = np.empty((BLOCK, count))
    projected = np.empty((BLOCK, 2 * width))
    norm = np.sqrt(2.0 / count)
    for start in range(0, n, BLOCK):
        rows = min(BLOCK, n - start)
        block = X[start : start + rows]
        _waves(block, rows, wave_in, wave_offset, waves)
        for r in range(rows):
            design[r, 0] = 1.0
            for j in range(m):
                design[r, 1 + j] = (block[r, j] - mean[j]) / scale[j]
            for c in range(count):
                design[r, 1 + m + c] = norm * waves[r, c]
        for i, o in enumerate(outputs):
            for r in range(rows):
                d = delta[start + r, o]
                for c in range(width):
                    design[r, width + c] = design[r, c] * d
            projected[:] = 0.0
            _times(design, rows, factors[o], projected)
            for r in range(rows):
                total = 0.0
                for c in range(2 * width):
                    total += projected[r, c] * projected[r, c]
                out[start + r, i] = total
