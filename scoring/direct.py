"""A fitted estimator's own arithmetic on a float block this code has already checked, without
scikit-learn's checks on every call.

`predict_proba(X)` and `predict(X)` check their input each time (fitted state, dtype, order,
feature names, width, tags): about 0.1-0.15 ms a call, several times the arithmetic of one row
for an SVC. Rows the service answers are checked once, by the schema, and reach the estimator as
a C-ordered float64 block of the width it was fitted on; for such a block the estimator's own
compute step gives the same answer.

Only estimators whose compute step is known here have a direct path, and each is proven at
construction: the direct answer and the public API's answer to the estimator's own support
vectors (of every class) must agree bit for bit, or the direct path is not used. Any other input
(another dtype, width or order, a sparse matrix, a frame) takes the public API.

A binary SVC's label is the sign of its decision value d, and its Platt probability of the first
class, r = 1 / (1 + exp(A d + B)), is monotone in d: r beyond r(0) on one side means d > 0. libsvm
then reports that pair probability through its iterative multi-class solver, which stops within
|p - r| < 0.005 (for two classes its stopping error is |p - r| max(p, 1 - p) < 0.0025). So a
probability more than BAND from r(0) decides the label without libsvm's second pass over the
support vectors; only rows within the band (a few in a thousand on the default bundle) get it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Compute = Callable[[np.ndarray], np.ndarray]
# how far a binary SVC's first-class probability must lie from its Platt value at d = 0 to decide
# the label: twice the solver's bound on |p - r| (0.005), for margin
BAND = 0.01


@dataclass(frozen=True)
class Direct:
    """The estimator's `predict_proba` and `predict` on a checked block (each None: no direct path);
    the block is made C-ordered first, as scikit-learn's check makes it."""

    width: int
    predict_proba: Compute | None
    predict: Compute | None
    # labels of a block given its probabilities (from `predict_proba`): read from them where they
    # decide it, `predict` for the others; None: no such reading
    labels_from: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def takes(self, X: Any) -> bool:
        """Whether `X` is a block the direct path answers as the public API does."""
        return (
            isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == self.width
        )


def direct_calls(estimator: Any) -> Direct | None:
    """The direct path of `estimator`, proven on its own support vectors; None when it has none."""
    from sklearn.svm import SVC, NuSVC

    if type(estimator) not in (SVC, NuSVC):
        return None
    found = _svc(estimator)
    if found is None:
        return None
    return found if _agrees(estimator, found) else None


def _svc(svc: Any) -> Direct | None:
    """An SVC's libsvm calls, as its predict_proba / predict make them after their checks: a dense
    model with a named kernel (not a callable, not 'precomputed')."""
    if getattr(svc, "_sparse", True) or not isinstance(svc.kernel, str) or svc.kernel == "precomputed":
        return None
    sv = getattr(svc, "support_vectors_", None)
    if sv is None or sv.ndim != 2 or sv.shape[0] == 0:
        return None
    proba = None
    if hasattr(svc, "predict_proba"):  # fitted with probabilities (proven in `_agrees`)

        def proba(X: np.ndarray) -> np.ndarray:
            return np.asarray(svc._dense_predict_proba(np.ascontiguousarray(X)))

    predict = None
    if not (svc.break_ties and len(svc.classes_) > 2):  # break_ties: argmax of decision_function

        def predict(X: np.ndarray) -> np.ndarray:
            return svc.classes_.take(np.asarray(svc._dense_predict(np.ascontiguousarray(X)), dtype=np.intp))

    return Direct(sv.shape[1], proba, predict, _platt_labels(svc, predict) if proba is not None else None)


def _platt_labels(svc: Any, predict: Compute | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """A binary SVC's labels read from its probabilities (see the module's text); None for more
    classes or a flat Platt curve."""
    slope, offset = np.ravel(getattr(svc, "_probA", ())), np.ravel(getattr(svc, "_probB", ()))
    if predict is None or len(svc.classes_) != 2 or len(slope) != 1 or len(offset) != 1:
        return None
    if not (np.isfinite(slope[0]) and np.isfinite(offset[0]) and slope[0] != 0):
        return None
    b = float(offset[0])  # r(0) = 1 / (1 + exp(B)), clipped as libsvm clips pair probabilities
    at_zero = math.exp(-b) / (1.0 + math.exp(-b)) if b >= 0 else 1.0 / (1.0 + math.exp(b))
    at_zero = min(max(at_zero, 1e-7), 1 - 1e-7)  # d > 0 lies above it when A < 0
    side = 1.0 if slope[0] < 0 else -1.0
    classes = svc.classes_

    def labels_from(X: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        gap = side * (probabilities[:, 0] - at_zero)
        labels = classes.take(np.where(gap > 0, 0, 1))  # d > 0: libsvm votes for the first class
        unsure = np.flatnonzero(np.abs(gap) <= BAND)
        if len(unsure):
            labels[unsure] = predict(X[unsure])
        return labels

    return labels_from


def _agrees(estimator: Any, direct: Direct) -> bool:
    # support vectors come grouped by class: some of each
    sv, counts = estimator.support_vectors_, np.asarray(estimator.n_support_)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picked = np.concatenate(
        [np.arange(start, start + min(count, 8)) for start, count in zip(starts, counts, strict=True)]
    )
    probe = np.ascontiguousarray(sv[picked.astype(int)], dtype=np.float64)
    with warnings.catch_warnings():  # an estimator fitted on a frame warns of an unnamed block
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        try:
            probabilities = None if direct.predict_proba is None else direct.predict_proba(probe)
            if probabilities is not None and not np.array_equal(
                probabilities, estimator.predict_proba(probe)
            ):
                return False
            labels = estimator.predict(probe)
            if direct.predict is not None and not np.array_equal(direct.predict(probe), labels):
                return False
            if direct.labels_from is not None and probabilities is not None:
                return np.array_equal(direct.labels_from(probe, probabilities), labels)
            return True
        except Exception:
            return False
