"""TreeSHAP for scikit-learn tree ensembles (histogram gradient boosting included), LightGBM and
XGBoost, through shap's C++ code."""

from __future__ import annotations

import functools
import importlib
from typing import Any

import numpy as np
from sklearn import ensemble
from sklearn.base import is_classifier
from sklearn.tree import BaseDecisionTree

from scoring.background import Background, summarize
from scoring.errors import ParameterError, UnsupportedModelError
from scoring.explainers.base import ScoringExplainer
from scoring.explanation import Method, Space

# scikit-learn's tree models and ensembles that shap's TreeSHAP reads
SKLEARN_TREES: tuple[type, ...] = (
    BaseDecisionTree,
    ensemble.RandomForestClassifier,
    ensemble.RandomForestRegressor,
    ensemble.ExtraTreesClassifier,
    ensemble.ExtraTreesRegressor,
    ensemble.GradientBoostingClassifier,
    ensemble.GradientBoostingRegressor,
    ensemble.HistGradientBoostingClassifier,
    ensemble.HistGradientBoostingRegressor,
)
# those whose leaves hold class frequencies: their raw output is a probability
AVERAGING_FORESTS = (BaseDecisionTree, ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier)


@functools.cache
def _optional_class(module: str, name: str) -> type | None:
    """A class of an optional library (LightGBM, XGBoost), or None where it is not installed or
    cannot load (LightGBM without the system's OpenMP runtime raises OSError)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, OSError):
        return None


def _is_lightgbm(model: Any) -> bool:
    cls = _optional_class("lightgbm", "LGBMModel")
    return cls is not None and isinstance(model, cls)


def _is_xgboost(model: Any) -> bool:
    cls = _optional_class("xgboost", "XGBModel")
    return cls is not None and isinstance(model, cls)


def is_tree_model(model: Any) -> bool:
    if isinstance(model, ensemble.GradientBoostingClassifier):
        # shap's TreeSHAP takes a GradientBoostingClassifier only when it is binary
        return len(getattr(model, "classes_", ())) <= 2
    return isinstance(model, SKLEARN_TREES) or _is_lightgbm(model) or _is_xgboost(model)


def _margin_space(model: Any) -> Space:
    """The space TreeSHAP explains without a background: what the trees' leaves add up to."""
    if not is_classifier(model):
        return Space.RAW
    if isinstance(model, AVERAGING_FORESTS):
        return Space.PROBABILITY
    return Space.LOG_ODDS


# rows checked at fit, and the tolerance (XGBoost computes in float32)
ACCURACY_CHECK_ROWS = 50
ACCURACY_TOLERANCE = 1e-4


class TreeExplainer(ScoringExplainer):
    """Exact TreeSHAP for the tree model.

    `output="margin"` explains what the leaves add up to (log-odds for boosted classifiers,
    probabilities for forests, raw for regressors) with path-dependent TreeSHAP and no background.
    `output="probability"` explains class probabilities of boosted classifiers with interventional
    TreeSHAP over a summarized background of `n_background` rows. That is shap's algorithm: for
    each background row the margin's exact values are rescaled to add up to the probability
    difference, so they are additive but not the exact Shapley values of the probability.
    """

    method = Method.TREE

    def __init__(self, *, output: str = "margin", n_background: int = 100, seed: int = 0):
        self.output = output
        self.n_background = n_background
        self.seed = seed

    def _space(self, model: Any) -> Space:
        if not is_tree_model(model):
            raise UnsupportedModelError(f"the tree method needs a tree ensemble, got {type(model).__name__}")
        if self.output not in ("margin", "probability"):
            raise ParameterError(f"output must be 'margin' or 'probability', got {self.output!r}")
        if self.output == "probability" and is_classifier(model):
            return Space.PROBABILITY
        return _margin_space(model)

    def _fit(self, X: np.ndarray) -> None:
        self.background_ = None
        if self._interventional:
            self.background_ = summarize(np.asarray(X, dtype=float), self.n_background, seed=self.seed)
        self._build()
        # shap reads some models' base score (XGBoost's) only when it explains a row: take the
        # expected value it reports after explaining one
        self.shap_.shap_values(self.output_.columns.to_model(X[:1]), check_additivity=False)
        self.expected_value_ = self._expected_value()
        self._check_local_accuracy(np.asarray(X[:ACCURACY_CHECK_ROWS], dtype=float))

    def _check_local_accuracy(self, X: np.ndarray) -> None:
        """Path-dependent TreeSHAP adds up to the trees' output exactly; check that once here
        against the model's own output, so `explain` need not call the model a second time."""
        self.fit_residual_ = 0.0
        if self._interventional:
            return
        data = self.output_.columns.to_model(X)
        values = self._values(data)
        outputs = self._outputs(data, X.shape[0], values.shape[2])
        residual = outputs - self.expected_value_[None, :] - values.sum(axis=1)
        self.fit_residual_ = float(np.max(np.abs(residual)))
        scale = max(1.0, float(np.max(np.abs(outputs))))
        if self.fit_residual_ > ACCURACY_TOLERANCE * scale:
            raise UnsupportedModelError(
                f"TreeSHAP values of this {type(self.output_.model).__name__} miss its output by "
                f"{self.fit_residual_:.3g}; explain it with 'kernel' instead"
            )

    @property
    def _interventional(self) -> bool:
        return self.output == "probability" and _margin_space(self.output_.model) is not Space.PROBABILITY

    def _build(self) -> None:
        import shap

        model = self.output_.model
        if self.background_ is not None:
            # shap's interventional TreeSHAP takes an unweighted background: repeat rows by weight
            self.shap_ = shap.TreeExplainer(
                model,
                data=self._weighted_rows(),
                model_output="probability",
                feature_perturbation="interventional",
            )
        else:
            self.shap_ = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        self.expected_value_ = self._expected_value()

    def _expected_value(self) -> np.ndarray:
        k = len(self.output_.output_names)
        ev = np.atleast_1d(np.asarray(self.shap_.expected_value, dtype=float))
        if k == 2 and ev.shape[-1] == 1 and self.output_.space is Space.PROBABILITY:
            return np.array([1.0 - ev[0], ev[0]])  # class 0's probability is 1 - p, not -p
        return self._as_k(ev[None, None, :], k)[0, 0]

    def _weighted_rows(self) -> np.ndarray:
        assert self.background_ is not None
        counts = np.maximum(1, np.round(self.background_.weights * 10 * self.background_.size)).astype(int)
        return np.repeat(self.background_.rows, counts, axis=0)

    def _as_k(self, values: np.ndarray, k: int) -> np.ndarray:
        """shap's output for one column of a binary model becomes two: class 0 is its negative
        (log-odds) or its complement's share (probability: 1 - p, so values negate)."""
        if values.shape[-1] == k:
            return values
        if k == 2 and values.shape[-1] == 1:
            return np.concatenate([-values, values], axis=-1)
        raise UnsupportedModelError(f"tree explainer produced {values.shape[-1]} outputs for {k} classes")

    def _explain(
        self, X: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, None]:
        X = np.asarray(X, dtype=float)
        data = self.output_.columns.to_model(X)
        values = self._values(data)
        if self._interventional:
            if outputs is None or self._own_margin:
                outputs = self._outputs(data, X.shape[0], values.shape[2])
            return values, outputs, None
        # local accuracy of path-dependent TreeSHAP, checked against the model at fit
        return values, self.expected_value_[None, :] + values.sum(axis=1), None

    def _values(self, data: Any) -> np.ndarray:
        raw = np.asarray(self.shap_.shap_values(data, check_additivity=False), dtype=float)
        if raw.ndim == 2:
            raw = raw[:, :, None]
        return self._as_k(raw, len(self.output_.output_names))

    @property
    def _own_margin(self) -> bool:
        """Whether the explained output is a library's raw margin, not `output_`'s function."""
        model = self.output_.model
        return self.output_.space is not Space.PROBABILITY and (_is_lightgbm(model) or _is_xgboost(model))

    def _outputs(self, data: Any, n: int, k: int) -> np.ndarray:
        """The model's own output in the explained space."""
        model = self.output_.model
        space = self.output_.space
        if space is Space.PROBABILITY:
            out = np.asarray(model.predict_proba(data), dtype=float)
        elif _is_lightgbm(model):
            out = np.asarray(model.predict(data, raw_score=True), dtype=float)
        elif _is_xgboost(model):
            out = np.asarray(model.predict(data, output_margin=True), dtype=float)
        elif space is Space.LOG_ODDS:
            out = np.asarray(model.decision_function(data), dtype=float)
        else:
            out = np.asarray(model.predict(data), dtype=float)
        out = out.reshape(n, -1)
        if out.shape[1] != k:
            out = self._as_k(out[:, None, :], k)[:, 0, :]
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        if self.background_ is None:
            return {}
        return {"background": self.background_.rows, "background_weights": self.background_.weights}

    def _restore(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.background_ = None
        if "background" in arrays:
            self.background_ = Background(arrays["background"], arrays["background_weights"])
        saved = self.expected_value_
        self._build()
        self.expected_value_ = saved
