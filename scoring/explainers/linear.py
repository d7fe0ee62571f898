"""Exact interventional SHAP for linear models, in closed form, in margin space."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.linear_model import SGDRegressor
from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

from scoring.errors import UnsupportedModelError
from scoring.explainers.base import ScoringExplainer
from scoring.explanation import Method, Space


def is_linear(model: Any) -> bool:
    # SGDRegressor is linear but not a LinearModel; GLMs (Poisson, Gamma) have a link and are not
    return isinstance(model, (LinearClassifierMixin, LinearModel, SGDRegressor)) and hasattr(model, "coef_")


class LinearExplainer(ScoringExplainer):
    """phi_j = w_j (x_j - mean_j) for f(x) = w.x + b; the base value is f(mean).

    Classifiers are explained in log-odds (margin) space; a binary model's class 0 is the
    negative of class 1. The background is the weighted mean of the rows given to `fit`.
    """

    method = Method.LINEAR

    def __init__(self) -> None:
        pass

    def _space(self, model: Any) -> Space:
        if not is_linear(model):
            raise UnsupportedModelError(
                f"the linear method needs a fitted linear model, got {type(model).__name__}"
            )
        return Space.LOG_ODDS if is_classifier(model) else Space.RAW

    def _fit(self, X: np.ndarray) -> None:
        model = self.output_.model
        coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
        intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))
        if is_classifier(model) and coef.shape[0] == 1:
            coef = np.vstack([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
        self.coef_ = coef  # (K, M)
        self.intercept_ = intercept  # (K,)
        self.mean_ = np.asarray(X, dtype=float).mean(axis=0)
        self.expected_value_ = self.coef_ @ self.mean_ + self.intercept_

    def _explain(
        self, X: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, None]:
        # the closed form's own outputs (the explained margin), whatever the caller computed
        X = np.asarray(X, dtype=float)
        values = (X - self.mean_)[:, :, None] * self.coef_.T[None, :, :]
        # the model's own margin, w.x + b, as its decision_function computes it
        outputs = X @ self.coef_.T + self.intercept_
        return values, outputs, None

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_, "intercept": self.intercept_, "mean": self.mean_}

    def _restore(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.coef_ = arrays["coef"]
        self.intercept_ = arrays["intercept"]
        self.mean_ = arrays["mean"]
