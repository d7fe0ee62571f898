"""rowwise_matmul: X @ W, with each row's bits independent of the rows multiplied with it."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.rowwise import rowwise_matmul


@pytest.mark.parametrize(("m", "p"), [(6, 300), (30, 300), (300, 120), (3, 2)])
def test_rows_do_not_depend_on_their_batch(m: int, p: int) -> None:
    rng = np.random.default_rng(m * p)
    X, W = rng.normal(size=(301, m)), rng.normal(size=(m, p))
    whole = rowwise_matmul(X, W)
    np.testing.assert_allclose(whole, X @ W, rtol=1e-12, atol=1e-12)
    for cut in (1, 7, 16, 17, 200):
        parts = np.concatenate([rowwise_matmul(X[:cut], W), rowwise_matmul(X[cut:], W)])
        assert np.array_equal(parts, whole)
    assert np.array_equal(rowwise_matmul(np.asfortranarray(X), W), whole)
    singles = np.concatenate([rowwise_matmul(X[i : i + 1], W) for i in range(0, 301, 37)])
    assert np.array_equal(singles, whole[::37])
    assert rowwise_matmul(X[:0], W).shape == (0, p)
