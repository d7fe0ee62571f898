"""Matrix products whose every output row depends on its own input row only, bit for bit.

BLAS picks its kernels (and so its summation order) by the shapes and memory layout of the whole
product: `X @ W` can give a row different last bits in a 1-row call, a 200-row call or a call on a
column-major frame. A row's explanation must not depend on the rows explained with it (the
service's batches, the batch job's partitions), so explainers that multiply rows by fitted
matrices use `rowwise_matmul`: C-ordered blocks of exactly ROWS rows (the last one zero-padded),
one product shape for every call.

ROWS is 4: one row alone goes to BLAS's matrix-vector kernel (other sums, other last bits), and
four is the fewest rows that gave the matrix kernel's bits for every shape tried here; a single
row then pays for 4 rows of arithmetic, not 16 (on the default bundle, 30 us less a row).
"""

from __future__ import annotations

import numpy as np

ROWS = 4


def rowwise_matmul(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """`X @ W` for 2-d float X (n, m) and W (m, p), the same bits for a row in any batch."""
    X = np.ascontiguousarray(X, dtype=float)
    W = np.ascontiguousarray(W, dtype=float)
    n = len(X)
    out = np.empty((n, W.shape[1]))
    full = n - n % ROWS
    for start in range(0, full, ROWS):
        np.matmul(X[start : start + ROWS], W, out=out[start : start + ROWS])
    if full < n:
        padded = np.zeros((ROWS, X.shape[1]))
        padded[: n - full] = X[full:]
        out[full:] = (padded @ W)[: n - full]
    return out
