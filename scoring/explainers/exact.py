"""Exact interventional Shapley values by enumerating every coalition over a stored background."""

from __future__ import annotations

from typing import Any

import numpy as np

from scoring.background import Background, summarize
from scoring.errors import ValidationError
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.coalitions import all_masks, coalition_values, exact_shapley
from scoring.explanation import Method

MAX_FEATURES = 16


class ExactExplainer(ScoringExplainer):
    """Shapley values of f(x_S, background) by the definition: 2^M coalitions x background rows.

    Exact for the stored background; affordable for M up to about 12.
    """

    method = Method.EXACT

    def __init__(self, *, n_background: int = 50, seed: int = 0):
        self.n_background = n_background
        self.seed = seed

    def _fit(self, X: np.ndarray) -> None:
        m = X.shape[1]
        if m > MAX_FEATURES:
            raise ValidationError(
                f"the exact method enumerates 2^M coalitions; M={m} is above {MAX_FEATURES}, "
                "use 'kernel' or 'amortized'"
            )
        self.background_ = summarize(X, self.n_background, seed=self.seed)
        self.masks_ = all_masks(m)
        self.expected_value_ = self.background_.weights @ self.output_(self.background_.rows)

    def _explain(
        self, X: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, None]:
        # the full coalition is part of the enumeration; its value is the output stated
        v = coalition_values(self.output_, X, self.masks_, self.background_)
        return exact_shapley(v, X.shape[1]), v[:, -1, :], None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"background": self.background_.rows, "background_weights": self.background_.weights}

    def _restore(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.background_ = Background(arrays["background"], arrays["background_weights"])
        self.masks_ = all_masks(self.background_.rows.shape[1])
