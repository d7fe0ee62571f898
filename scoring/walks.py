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

from scoring.pipeline import unnamed_rows

# how far a walk's outputs may lie from the model's own on the built rows (the proof's bound)
WALK_TOLERANCE = 1e-9

# outputs at the inner steps (n, P, M - 1, K) of walks from background rows (n, P, M) to the rows
# X (n, M), given each walk's feature order (n, P, M): feature order[i, p, t] switches at step t
Walk = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def walk_outputs(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    order: np.ndarray,
    rank: np.ndarray,
) -> np.ndarray:
    """(n, P, M - 1, K) f at the inner steps of the walks from `background` (n, P, M) to X (n, M),
    feature order[i, p, t] switching at step t (rank: its inverse): by f's own walk path when it
    has one (a model output's `walk`), else on the built rows."""
    walk = getattr(f, "walk", None)
    if walk is not None:
        return walk(X, background, order)
    n, p, m = background.shape
    steps = np.arange(1, m)[None, None, :, None]
    hybrid = np.where(rank[:, :, None, :] < steps, X[:, None, None, :], background[:, :, None, :])
    return f(hybrid.reshape(-1, m)).reshape(n, p, m - 1, -1)


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
    # support vectors come grouped by class: the first two of each walk to the next two of each
    starts = np.concatenate([[0], np.cumsum(estimator.n_support_)[:-1]]).astype(int)
    X = sv[np.concatenate([np.arange(start, start + 2) for start in starts]) % len(sv)]
    ends = sv[np.concatenate([np.arange(start + 2, start + 4) for start in starts]) % len(sv)]
    rng = np.random.default_rng(0)
    background = ends[rng.integers(0, len(ends), (len(X), 3))]
    order = np.argsort(rng.random((len(X), 3, sv.shape[1])), axis=2)
    try:
        ours = walk(X, background, order)
        with unnamed_rows():  # an estimator fitted on a frame, asked of its float block
            theirs = walk_outputs(estimator.predict_proba, X, background, order, np.argsort(order, axis=2))
    except Exception:
        return False
    return bool(np.allclose(ours, theirs, rtol=0.0, atol=WALK_TOLERANCE))


def _kernel() -> Callable[..., None]:
    """The compiled walk of a binary RBF SVC (numba compiles it on first import, once a process)."""
    from scoring.walk_kernel import rbf_svc_walks

    return rbf_svc_walks
