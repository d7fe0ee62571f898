"""A model's outputs along permutation walks, computed step by step where its arithmetic allows.

Permutation sampling (scoring.explainers.permutation, scoring.explainers.sampler) walks from a
background row b to the explained row x, switching one feature at a time, and evaluates the model
at every step: M - 1 rows of M features each per walk. For an RBF-kernel SVC those rows need not
be built: when feature j switches, the kernel value to each support vector s changes by one
term of its squared distance, (x_j - s_j)^2 - (b_j - s_j)^2, or by one factor of its product,
exp(-gamma (x_j - s_j)^2) for exp(-gamma (b_j - s_j)^2) (scoring.walk_kernel has both). So a walk
costs one kernel value per support vector and step (libsvm recomputes each distance over all M
features), then the decision value, Platt's sigmoid and libsvm's pairwise-coupling solver as
libsvm runs them. Measured on the default breast-cancer SVC (30 features, 272 support vectors):
about 1.9 us per step by the running sums, 0.45 us by the products (their factors precomputed
and kept for a table of background rows, the support vectors far from both ends of a walk left
out), against 13.5 us for `predict_proba` on the built rows.

The same factors give the rows one feature away from a row and from an anchor row
(`switch_outputs`, the amortized explainer's effects) at one product per support vector each.

The running sums and products round differently from libsvm's sums, so the outputs agree with
the model's to about 1e-11, not bit for bit: these values feed Shapley estimates whose sampling noise is many
orders larger, never a served prediction. Each path is proven at construction on walks between
the model's own support vectors (within WALK_TOLERANCE of `predict_proba` on the built rows), or
not used.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from scoring.pipeline import unnamed_rows

# built rows sent to the model in one call (at least one row's walks)
MAX_ROWS_PER_CALL = 20_000
# the table kernel's precomputed factors (distinct background rows x features x support vectors)
# at most: 32 MB (the default SVC's 455 training rows take 3.7 M)
MAX_TABLE = 1 << 22
# the table kernel's factors kept across calls at most (8 MB; the default SVC's summary takes 0.74 M)
MAX_KEPT = 1 << 20
# rows whose kernel factors the switch path computes at once (8 MB for the default SVC)
SWITCH_ROWS = 128
# the most the switch path's dropped kernel values move a decision value
NEGLIGIBLE = 1e-18
# how far a walk's outputs may lie from the model's own on the built rows (the proof's bound)
WALK_TOLERANCE = 1e-9


# outputs at the inner steps (n, P, M - 1, K) of walks from background rows (n, P, M) to the rows
# X (n, M), given each walk's feature order (n, P, M): feature order[i, p, t] switches at step t
# (with `index`, the background rows are background[index]: a table and each walk's row of it)
class Walk(Protocol):
    def __call__(
        self, X: np.ndarray, background: np.ndarray, order: np.ndarray, *, index: np.ndarray | None = None
    ) -> np.ndarray: ...


# outputs one feature away from rows X (n, M) and from anchors (R, M): see `switch_outputs`
Switch = Callable[[np.ndarray, np.ndarray], np.ndarray]


def walk_outputs(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    order: np.ndarray,
    rank: np.ndarray,
    *,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """(n, P, M - 1, K) f at the inner steps of the walks from `background` (n, P, M) to X (n, M),
    feature order[i, p, t] switching at step t (rank: its inverse): by f's own walk path when it
    has one (a model output's `walk`), else on the built rows. With `index` (n, P), background
    is a table (B, M) and walk (i, p) starts from its row index[i, p]."""
    walk = getattr(f, "walk", None)
    if walk is not None:
        return walk(X, background, order, index=index)
    if index is not None:
        background = background[index]
    n, p, m = background.shape
    steps = np.arange(1, m)[None, :, None]
    walks, starts, ranks = np.repeat(np.arange(n), p), background.reshape(-1, m), rank.reshape(-1, m)
    # a few thousand walks per call: one call on every built row can take hundreds of MB (an
    # MLP's activations) and, out of cache, several times the time per row
    per_call = max(1, MAX_ROWS_PER_CALL // max(1, m - 1))
    parts = []
    for start in range(0, n * p, per_call):
        chunk = slice(start, start + per_call)
        at = np.where(ranks[chunk, None, :] < steps, X[walks[chunk], None, :], starts[chunk, None, :])
        parts.append(f(at.reshape(-1, m)).reshape(len(at), m - 1, -1))
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return out.reshape(n, p, m - 1, -1)


def switch_outputs(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(n, R, 2, M, K) f one feature away from the rows X (n, M) and from the anchors (R, M):
    [:, r, 0, j] at x with feature j set to anchor r's value, [:, r, 1, j] at anchor r with
    feature j set to x's; by f's own path when it has one (a model output's `switch`), else on
    the built rows."""
    return outputs_and_switches(f, X, anchors, outputs=np.empty((len(X), 0)))[1]


def outputs_and_switches(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    anchors: np.ndarray,
    *,
    outputs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """f(X) (`outputs` when given) and `switch_outputs`; on built rows, each row's own output in
    the call of its switched rows (a call of 1 + 2 R M rows costs a small model little more than
    one of 1). A model whose outputs for a row depend on the other rows of its call in their last
    bits (an MLP's matrix products sum in an order its library picks by the shape) gives effects
    that do too, as its predictions already do."""
    switch = getattr(f, "switch", None)
    if switch is not None:
        return (f(X) if outputs is None else outputs), switch(X, anchors)
    n, m = X.shape
    if n == 0:
        return (f(X) if outputs is None else outputs), np.empty((0, len(anchors), 2, m, 0))
    r = len(anchors)
    own = int(outputs is None)  # each row's own output in the call, before its switched rows
    diagonal = np.arange(m)
    per_call = max(1, MAX_ROWS_PER_CALL // max(1, 2 * r * m + own))
    found, parts = [], []
    for start in range(0, n, per_call):
        rows = X[start : start + per_call]
        count = len(rows)
        built = np.empty((count, own + 2 * r * m, m))
        if own:
            built[:, 0] = rows
        away = built[:, own : own + r * m].reshape(count, r, m, m)  # x, feature j from the anchor
        away[:] = rows[:, None, None, :]
        away[:, :, diagonal, diagonal] = anchors[None, :, :]
        back = built[:, own + r * m :].reshape(count, r, m, m)  # the anchor, feature j from x
        back[:] = anchors[None, :, None, :]
        back[:, :, diagonal, diagonal] = rows[:, None, :]
        out = f(built.reshape(-1, m)).reshape(count, built.shape[1], -1)
        found.append(out[:, 0])
        parts.append(out[:, own:].reshape(count, 2, r, m, -1).transpose(0, 2, 1, 3, 4))
    if outputs is None:
        outputs = np.concatenate(found)
    return outputs, np.concatenate(parts)


def walk_of(estimator: Any, space: str) -> Walk | None:
    """The step-by-step path for `estimator`'s outputs in `space`, proven; None when it has none."""
    svc = _binary_rbf_svc(estimator, space)
    if svc is None:
        return None
    sums, products = _kernels()
    sv_t, parameters = svc
    tiny = _tiny(parameters[0])
    kept = TableFactors(sv_t, float(parameters[1]), tiny)

    def walk(
        X: np.ndarray,
        background: np.ndarray,
        order: np.ndarray,
        *,
        index: np.ndarray | None = None,
        table: bool | None = None,
    ) -> np.ndarray:
        """`table` None: the table kernel when the distinct background rows' factors fit in
        MAX_TABLE values (a summary's rows, the training rows), else the running sums."""
        n, p, m = order.shape
        out = np.empty((n, p, max(m - 1, 0), 2))
        X = np.ascontiguousarray(X, dtype=float)
        order = np.ascontiguousarray(order, dtype=np.int64)
        kernel = (sv_t, *parameters)
        if index is not None and background.shape[0] * m * sv_t.shape[1] > MAX_TABLE:
            used, inverse = np.unique(index, return_inverse=True)  # only the rows walked from
            background, index = background[used], inverse.reshape(n, p)
        if table is not False:
            if index is None:
                rows, at = np.unique(background.reshape(-1, m), axis=0, return_inverse=True)
            else:
                rows, at = background, index
            if table or rows.shape[0] * m * sv_t.shape[1] <= MAX_TABLE:
                factors, masks, slots = kept.factors(rows)
                products(X, factors, masks, slots[at.reshape(n, p)], order, *kernel, tiny, out)
                return out
        starts = background if index is None else background[index]
        sums(X, np.ascontiguousarray(starts, dtype=float), order, *kernel, out)
        return out

    both: list[Walk] = [functools.partial(walk, table=False), functools.partial(walk, table=True)]
    return walk if _proven(estimator, both, sv_t.T) else None


class TableFactors:
    """The table kernel's factors of the background rows walks have started from, kept per row
    (at most MAX_KEPT values: a background summary's rows, walked from again on every refined or
    audited row, cost their exponentials once a process instead of once a call); threads share
    them under a lock, and a kept row's factors never change."""

    def __init__(self, sv_t: np.ndarray, gamma: float, tiny: float):
        self.sv_t, self.gamma, self.tiny = sv_t, gamma, tiny
        self.lock = threading.Lock()
        self.slots: dict[bytes, int] = {}
        m, s_count = sv_t.shape
        self.kept = (np.empty((0, m, s_count)), np.empty((0, s_count), dtype=np.uint64))

    def factors(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(factors, masks, slots): `rbf_svc_table_factors` of kept rows, and the slot of each
        of `rows` (R, M) among them."""
        from scoring.walk_kernel import rbf_svc_table_factors

        rows = np.ascontiguousarray(rows, dtype=float)
        per_row = self.sv_t.size
        if len(rows) * per_row > MAX_KEPT:  # e.g. every training row, at fit: not kept
            factors, masks = rbf_svc_table_factors(rows, self.sv_t, self.gamma, self.tiny)
            return factors, masks, np.arange(len(rows))
        keys = [row.tobytes() for row in rows]
        with self.lock:
            new = [i for i, key in enumerate(keys) if key not in self.slots]
            if new:
                factors, masks = self.kept
                if (len(factors) + len(new)) * per_row > MAX_KEPT:
                    self.slots.clear()
                    factors, masks = factors[:0], masks[:0]
                    new = list(range(len(rows)))
                more = rbf_svc_table_factors(rows[new], self.sv_t, self.gamma, self.tiny)
                for i in new:
                    self.slots[keys[i]] = len(self.slots)
                self.kept = (np.concatenate([factors, more[0]]), np.concatenate([masks, more[1]]))
            slots = np.array([self.slots[key] for key in keys], dtype=np.int64)
            return self.kept[0], self.kept[1], slots


def switch_of(estimator: Any, space: str) -> Switch | None:
    """`switch_outputs`' path for `estimator`'s outputs in `space`, proven; None when it has none."""
    svc = _binary_rbf_svc(estimator, space)
    if svc is None:
        return None
    from scoring.walk_kernel import rbf_svc_factors, rbf_svc_switches

    sv_t, (coef, gamma, intercept, a, b) = svc
    tiny = _tiny(coef)
    # the last anchors' factors, live support vectors and their counts (an explainer's are fixed)
    kept: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def switch(X: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        key = np.asarray(anchors, dtype=float).tobytes() + bytes(len(anchors))
        anchor = kept.get(key)
        if anchor is None:
            kept.clear()
            anchor = kept[key] = rbf_svc_factors(
                np.ascontiguousarray(anchors, dtype=float), sv_t, coef, gamma, tiny
            )
        X = np.ascontiguousarray(X, dtype=float)  # a frame's column-major block too: one layout compiled
        out = np.empty((len(X), len(anchors), 2, X.shape[1], 2))
        for start in range(0, len(X), SWITCH_ROWS):
            rows = slice(start, start + SWITCH_ROWS)
            # numpy's exponential is several times numba's scalar one
            x_factors = X[rows, :, None] - sv_t[None]
            np.square(x_factors, out=x_factors)
            x_factors *= -gamma
            np.exp(x_factors, out=x_factors)
            rbf_svc_switches(x_factors, anchor[0], anchor[1], anchor[2], intercept, a, b, tiny, out[rows])
        return out

    sv = sv_t.T
    X, anchors = sv[:: max(1, len(sv) // 4)][:4], sv[len(sv) // 2 :][:3]
    try:
        with unnamed_rows():
            theirs = switch_outputs(estimator.predict_proba, X, anchors)
        ours = switch(X, anchors)
    except Exception:
        return None
    return switch if np.allclose(ours, theirs, rtol=0.0, atol=WALK_TOLERANCE) else None


def _tiny(coef: Any) -> float:
    """Kernel values below this are taken as zero: together they move a decision value by at
    most NEGLIGIBLE (and 1e-150 keeps every product of two normal)."""
    return max(1e-150, NEGLIGIBLE / max(float(np.abs(coef).sum()), 1e-300))


def _binary_rbf_svc(estimator: Any, space: str) -> tuple[np.ndarray, tuple[float | np.ndarray, ...]] | None:
    """A binary RBF SVC's support vectors (M, S) and libsvm's coefficients, -rho, gamma and
    Platt's slope and offset, for its probabilities; None for any other model or space."""
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
    # libsvm's own decision value (minus scikit-learn's for two classes): sum coef K(x, s) - rho,
    # with its coefficients and -rho as scikit-learn keeps them before flipping their signs
    coef = np.ascontiguousarray(np.asarray(estimator._dual_coef_, dtype=float)[0])
    intercept = float(np.ravel(estimator._intercept_)[0])
    gamma, a, b = float(estimator._gamma), float(slope[0]), float(offset[0])
    return np.ascontiguousarray(sv.T), (coef, gamma, intercept, a, b)


def _proven(estimator: Any, walks: list[Walk], sv: np.ndarray) -> bool:
    """Walks between support vectors (of both classes) agree with `predict_proba` on the rows
    they pass through, by each of `walks` (the kernels a call may take)."""
    # support vectors come grouped by class: the first two of each walk to the next two of each
    starts = np.concatenate([[0], np.cumsum(estimator.n_support_)[:-1]]).astype(int)
    X = sv[np.concatenate([np.arange(start, start + 2) for start in starts]) % len(sv)]
    ends = sv[np.concatenate([np.arange(start + 2, start + 4) for start in starts]) % len(sv)]
    rng = np.random.default_rng(0)
    background = ends[rng.integers(0, len(ends), (len(X), 3))]
    order = np.argsort(rng.random((len(X), 3, sv.shape[1])), axis=2)
    try:
        with unnamed_rows():  # an estimator fitted on a frame, asked of its float block
            theirs = walk_outputs(estimator.predict_proba, X, background, order, np.argsort(order, axis=2))
        ours = [walk(X, background, order) for walk in walks]
    except Exception:
        return False
    return all(np.allclose(o, theirs, rtol=0.0, atol=WALK_TOLERANCE) for o in ours)


def _kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    """The compiled walks of a binary RBF SVC, by running sums and from a table (numba compiles
    them on first use, once a process)."""
    from scoring.walk_kernel import rbf_svc_table_walks, rbf_svc_walks

    return rbf_svc_walks, rbf_svc_table_walks
