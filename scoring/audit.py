"""Served explanations checked again, later, against a high-accuracy reference: how close an
explainer stays to the Shapley values of the rows it actually sees in production.

The reference is `scoring.fidelity.reference_values` over the weighted k-means summary of the
background that the amortized explainer keeps (it keeps no training rows): the exact values when
enumeration is affordable, else permutation sampling averaged over two seeds (fresh seeds on
every call, so that the reference's noise does not repeat), whose disagreement is reported as the
noise floor. The summary shifts the values a little from those over every training row; the
explainer measured at fit time what an audit of held-out rows finds (`fidelity_["audit"]`), and
that is the figure to compare the running error with. The exact methods need no audit, and
`kernel` states its own error per row.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from scoring.errors import ParameterError, UnsupportedModelError
from scoring.explainers.base import ScoringExplainer
from scoring.explanation import Method
from scoring.fidelity import AUDIT_EVALUATIONS_PER_ROW, denoise, reference_values, relative_l2, relative_noise

# the running figures are over this many most recently audited rows
WINDOW = 500

NOT_AUDITED = {
    Method.LINEAR: "linear values are exact (closed form): nothing to audit",
    Method.TREE: "tree values are exact (TreeSHAP): nothing to audit",
    Method.EXACT: "exact values (every coalition enumerated): nothing to audit",
    Method.KERNEL: "kernel keeps only a weighted summary of its background and states its own "
    "sampling error per row ('error'); the audit is for the amortized explainer",
}


def audit_unavailable(explainer: ScoringExplainer) -> str | None:
    """Why `explainer` cannot be audited, or None when it can."""
    if Method(explainer.method) is Method.AMORTIZED:
        return None
    return NOT_AUDITED.get(Method(explainer.method), f"'{explainer.method}' keeps no background")


class Audit:
    """Running error of `explainer`'s values against the reference, over the last `window` rows.

    `check(X)` explains rows (in the explainer's columns) as served, computes the reference for
    them at `evaluations_per_row` model evaluations a row, and records each row's relative L2
    error (over features and outputs), and the reference's own noise. `summary()` gives the
    running figures beside the error the explainer expected at fit time.
    """

    def __init__(
        self,
        explainer: ScoringExplainer,
        *,
        evaluations_per_row: int = AUDIT_EVALUATIONS_PER_ROW,
        window: int = WINDOW,
        seed: int = 0,
    ):
        reason = audit_unavailable(explainer)
        if reason is not None:
            raise UnsupportedModelError(f"cannot audit this explainer: {reason}")
        if evaluations_per_row < 1 or window < 1:
            raise ParameterError("evaluations_per_row and window must be at least 1")
        self.explainer = explainer
        self.evaluations_per_row = evaluations_per_row
        self.errors: deque[float] = deque(maxlen=window)
        self.noise: deque[float] = deque(maxlen=window)
        self.audited = 0
        self._seed = seed

    def check(self, X: Any) -> np.ndarray:
        """Each row's relative L2 error against the reference; recorded in the running figures."""
        errors, noise = self.measure(X)
        self.record(errors, noise)
        return errors

    def measure(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per row: relative L2 error of the served values against the reference, and the
        reference's own relative noise. Records nothing (see `record`)."""
        served = self.explainer.explain(X)
        rows = served.data
        assert rows is not None  # explain() keeps the rows it explained
        seeds = (self._seed, self._seed + 1)
        self._seed += 2
        background = self.explainer.audit_background_  # type: ignore[attr-defined]
        reference = reference_values(
            self.explainer.output_,
            rows,
            background.rows,
            weights=background.weights,
            max_evaluations=self.evaluations_per_row * len(rows),
            seeds=seeds,
        )
        return relative_l2(served.values, reference.values), relative_noise(reference)

    def record(self, errors: np.ndarray, noise: np.ndarray) -> None:
        self.errors.extend(errors.tolist())
        self.noise.extend(noise.tolist())
        self.audited += len(errors)

    def summary(self) -> dict[str, Any]:
        """Rows audited so far, and over the window: median and p90 relative L2 error, the same
        with the reference's noise removed in quadrature, and the fit-time expectation (the median
        error of held-out rows against this same kind of reference)."""
        fidelity = getattr(self.explainer, "fidelity_", {}) or {}
        expected = (fidelity.get("audit") or {}).get("median_rel_l2")
        out: dict[str, Any] = {
            "audited_rows": self.audited,
            "window_rows": len(self.errors),
            "expected_median_rel_l2": expected,
            "median_rel_l2": None,
            "p90_rel_l2": None,
            "median_rel_l2_denoised": None,
            "reference_noise_median": None,
        }
        if self.errors:
            errors, noise = np.asarray(self.errors), np.asarray(self.noise)
            denoised = denoise(errors, noise)
            out.update(
                median_rel_l2=float(np.median(errors)),
                p90_rel_l2=float(np.quantile(errors, 0.9)),
                median_rel_l2_denoised=float(np.median(denoised)),
                reference_noise_median=float(np.median(noise)),
            )
        return out
