"""A fitted estimator's own arithmetic on a float block this code has already checked, without
scikit-learn's checks on every call.

`predict_proba(X)` and `predict(X)` check their input each time (fitted state, dtype, order,
feature names, width, tags): about 0.1-0.15 ms a call, several times the arithmetic of one row
for an SVC. Rows the service answers are checked once, by the schema, and reach the estimator as
a C-ordered float64 block of the width it was fitted on; for such a block the estimator's own
compute step gives the same answer.

Only estimators whose compute step is known here have a direct path, and each is proven at
construction: the direct answer and the public API's answer to the estimator's own support
vectors must agree bit for bit, or the direct path is not used. Any other input (another dtype,
width or order, a sparse matrix, a frame) takes the public API.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Compute = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Direct:
    """The estimator's `predict_proba` and `predict` on a checked block (each None: no direct path);
    the block is made C-ordered first, as scikit-learn's check makes it."""

    width: int
    predict_proba: Compute | None
    predict: Compute | None

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

    return Direct(sv.shape[1], proba, predict)


def _agrees(estimator: Any, direct: Direct) -> bool:
    probe = np.ascontiguousarray(estimator.support_vectors_[:8], dtype=np.float64)
    with warnings.catch_warnings():  # an estimator fitted on a frame warns of an unnamed block
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        try:
            if direct.predict_proba is not None and not np.array_equal(
                direct.predict_proba(probe), estimator.predict_proba(probe)
            ):
                return False
            return direct.predict is None or np.array_equal(direct.predict(probe), estimator.predict(probe))
        except Exception:
            return False
