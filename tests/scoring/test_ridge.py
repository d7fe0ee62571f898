"""The amortized explainer's ridge (scoring.explainers.ridge): each value's own regressors join
the shared design exactly, leave-one-out residuals included."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.explainers.ridge import OWN_PENALTY, output_design, ridge_loo


def _refit(design: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    return np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ y)


@pytest.mark.parametrize("mirrored", [False, True])
def test_own_regressors_and_leave_one_out_residuals_are_those_of_the_joint_ridge(mirrored) -> None:
    """Against the joint ridge solved directly, and refitted without each row in turn."""
    rng = np.random.default_rng(0)
    n, width, m, k, t, alpha = 30, 4, 3, 2, 2, 0.5
    basis = rng.standard_normal((n, width))
    delta = rng.standard_normal((n, k))
    labels = rng.standard_normal((n, m, k))
    effects = rng.standard_normal((n, m, k, t))
    if mirrored:  # a binary model's two classes
        delta[:, 0], labels[..., 0], effects[:, :, 0] = -delta[:, 1], -labels[..., 1], -effects[:, :, 1]
    ((_, coef, own, loo),) = ridge_loo(basis, delta, labels, (alpha,), effects)
    for out in range(k):
        shared = output_design(basis, delta[:, out])
        hat = shared @ np.linalg.solve(shared.T @ shared + alpha * np.eye(2 * width), shared.T)
        for j in range(m):
            e = effects[:, j, out]
            size = np.trace(e.T @ (e - hat @ e)) / t
            penalty = np.r_[np.full(2 * width, alpha), np.full(t, OWN_PENALTY * size + 1e-12)]
            design = np.hstack([shared, e])
            joint = _refit(design, labels[:, j, out], penalty)
            np.testing.assert_allclose(coef[out, :, j], joint[: 2 * width], atol=1e-10)
            np.testing.assert_allclose(own[j, out], joint[2 * width :], atol=1e-10)
            left_out = []
            for i in range(n):
                keep = np.arange(n) != i
                c = _refit(design[keep], labels[keep, j, out], penalty)
                left_out.append(labels[i, j, out] - design[i] @ c)
            np.testing.assert_allclose(loo[:, j, out], left_out, atol=1e-10)


def test_without_own_regressors_the_shared_ridge_is_unchanged() -> None:
    rng = np.random.default_rng(1)
    basis, delta, labels = (
        rng.standard_normal((20, 3)),
        rng.standard_normal((20, 1)),
        rng.standard_normal((20, 2, 1)),
    )
    ((_, coef, own, _),) = ridge_loo(basis, delta, labels, (1.0,))
    design = output_design(basis, delta[:, 0])
    np.testing.assert_allclose(coef[0], _refit(design, labels[:, :, 0], np.ones(6)), atol=1e-12)
    assert own.shape == (2, 1, 0)
