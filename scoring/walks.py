"""A model's outputs along permutation walks, computed step by step where its arithmetic allows.

Permutation sampling (scoring.explainers.permutation, scoring.explainers.sampler) walks from a
background row b to the explained row x, switching one feature at a time, and evaluates the model
at every step: M - 1 rows of M features each per walk. For an RBF-kernel SVC those rows need not
be built: the squared distance from a step's row to each support vector s changes, when feature j
switches, by (x_j - s_j)^2 - (b_j - s_j)^2. So a walk costs one kernel value per support vector
and step (libsvm recomputes each distance over all M features), then the decision value, Platt's
sigmoid and libsvm's pairwise-coupling solver as libsvm runs them. Measured on the default
breast-cancer SVC (30 features, 272 support vectors): about 1.9 us per step against 13.5 us for
`predict_proba` on the built rows.

The running sums round differently from libsvm's sums, so the outputs agree with the model's to
about 1e-11, not bit for bit: these values feed Shapley estimates whose sampling noise is many
orders larger, never a served prediction. Each path is proven at construction on walks between
the model's own support vectors (within WALK_TOLERANCE of `predict_proba` on the built rows), or
not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# how far a walk's outputs may lie from the model's own on the built rows (the proof's bound)
WALK_TOLERANCE = 1e-9

# outputs at the inner steps (n, P, M - 1, K) of walks from background rows (n, P, M) to the rows
# X (n, M), given each walk's feature order (n, P, M): feature order[i, p, t] switches at step t
Walk = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def walk_of(estimator: Any, space: str) -> Walk | None:
    """The step-by-step path for `estimator`'s outputs in `space`, proven; None when it has none."""
    from sklearn.svm import SVC, NuSVC

    if type(estimator) not in (SVC, NuSVC) or space != "probability":
        return None
    if estimator.kernel != "rbf" or getattr(estimator, "_sparse", True) or len(estimator.classes_) != 2:
        return None
    slope, offset = np.ravel(getattr(estimator, "_probA", ())), np.ravel(getattr(estimator, "_probB", ()))
    if len(slope) != 1 or len(offset) != 1:
        return None
    sv = np.asarray(estimator.support_vectors_, dtype=float)
    if sv.ndim != 2 or sv.shape[0] < 2 or sv.shape[1] < 2:
        return None
    kernel = _kernel()
    sv_t = np.ascontiguousarray(sv.T)
    # libsvm's own decision value (minus scikit-learn's for two classes): sum coef K(x, s) - rho,
    # with its coefficients and -rho as scikit-learn keeps them before flipping their signs
    coef = np.ascontiguousarray(np.asarray(estimator._dual_coef_, dtype=float)[0])
    intercept = float(np.ravel(estimator._intercept_)[0])
    gamma, a, b = float(estimator._gamma), float(slope[0]), float(offset[0])

    def walk(X: np.ndarray, background: np.ndarray, order: np.ndarray) -> np.ndarray:
        n, p, m = background.shape
        out = np.empty((n, p, max(m - 1, 0), 2))
        kernel(
            np.ascontiguousarray(X, dtype=float),
            np.ascontiguousarray(background, dtype=float),
            np.ascontiguousarray(order, dtype=np.int64),
            sv_t,
            coef,
            gamma,
            intercept,
            a,
            b,
            out,
        )
        return out

    return walk if _proven(estimator, walk, sv) else None


def _proven(estimator: Any, walk: Walk, sv: np.ndarray) -> bool:
    """Walks between support vectors (of both classes) agree with `predict_proba` on the rows
    they pass through."""
    rng = np.random.default_rng(0)
    picked = rng.choice(len(sv), size=min(len(sv), 8), replace=False)
    X = sv[picked[:4]]
    background = sv[picked[-4:]][rng.integers(0, min(4, len(picked)), (len(X), 3))]
    m = sv.shape[1]
    order = np.argsort(rng.random((len(X), 3, m)), axis=2)
    try:
        ours = walk(X, background, order)
        rank = np.argsort(order, axis=2)
        steps = np.arange(1, m)[None, None, :, None]
        rows = np.where(rank[:, :, None, :] < steps, X[:, None, None, :], background[:, :, None, :])
        theirs = np.asarray(estimator.predict_proba(rows.reshape(-1, m)), dtype=float).reshape(ours.shape)
    except Exception:
        return False
    return bool(np.allclose(ours, theirs, rtol=0.0, atol=WALK_TOLERANCE))


def _kernel() -> Callable[..., None]:
    """The compiled walk of a binary RBF SVC (numba compiles it on first import, once a process)."""
    from scoring.walk_kernel import rbf_svc_walks

    return rbf_svc_walks
