"""The reference design's four surrogate families, and the fitted surrogate they give.

As in the reference, a surrogate learns the teacher's output: a regressor's predictions; a
binary classifier's positive-class probability in soft-logit space (logit clipped to [-5, 5]).
A multiclass teacher is learned one class at a time, each class's probability in soft-logit
space (the reference fitted a classifier on the teacher's labels; probabilities keep more of
the teacher and let every family, linear ones included, follow it). Each fitted regressor is
explained exactly by our engine (TreeSHAP or closed-form linear SHAP).

`explainable_model_args` go to the underlying estimator. The reference took its classifier's
arguments (e.g. LogisticRegression's `solver`) in the same dictionary; those are accepted and not
used, and an argument neither form takes is an error.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, logit
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier, SGDRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from scoring.compat.models import CompatValueError

# the reference's clip of the soft logit
LOGIT_CLIP = 5.0
# below this many training rows LightGBM's leaves are allowed to be small (the reference's threshold)
SMALL_DATA_THRESHOLD = 50


def soft_logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.clip(logit(np.clip(p, 0.0, 1.0)), -LOGIT_CLIP, LOGIT_CLIP)


def _params(cls: type) -> set[str]:
    return {p for p in inspect.signature(cls).parameters if p not in ("args", "kwargs")}


class ExplainableModel(ABC):
    """A surrogate family: how to fit one regressor that our engine explains exactly."""

    family: ClassVar[str]
    method: ClassVar[str]
    regressor: ClassVar[type]
    classifier: ClassVar[type]

    @classmethod
    def split_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments the regressor takes; the classifier form's own are dropped; others are errors."""
        mine, theirs = _params(cls.regressor), _params(cls.classifier)
        unknown = sorted(set(args) - mine - theirs - cls.extra_args())
        if unknown:
            raise CompatValueError(
                f"{cls.__name__} got unknown explainable_model_args {unknown}; "
                f"{cls.regressor.__name__} takes {sorted(mine)}"
            )
        return {k: v for k, v in args.items() if k in mine or k in cls.extra_args()}

    @classmethod
    def extra_args(cls) -> set[str]:
        return set()

    @classmethod
    @abstractmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        """A fitted regressor of y on X."""


class LGBMExplainableModel(ExplainableModel):
    """Gradient-boosted trees (LightGBM), explained by TreeSHAP."""

    family = "lightgbm"
    method = "mimic.lightgbm"

    @classmethod
    def extra_args(cls) -> set[str]:
        return {
            "verbosity",
            "num_leaves",
            "learning_rate",
            "n_estimators",
            "min_child_samples",
            "min_data_in_leaf",
        }

    @classmethod
    def _lgbm(cls) -> tuple[type, type]:
        from lightgbm import LGBMClassifier, LGBMRegressor

        return LGBMRegressor, LGBMClassifier

    @classmethod
    def split_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        cls.regressor, cls.classifier = cls._lgbm()
        return super().split_args(args)

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        regressor, _ = cls._lgbm()
        # one thread: surrogate data are small, and OpenMP threads then cost more than they save
        params: dict[str, Any] = {"n_estimators": 100, "n_jobs": 1, "random_state": seed, "verbose": -1}
        if len(X) < SMALL_DATA_THRESHOLD:
            params["min_child_samples"] = 1
            params["min_child_weight"] = 0.0
        params.update(args)
        if "verbosity" in params:
            params["verbose"] = params.pop("verbosity")
        return regressor(**params).fit(X, y)


class DecisionTreeExplainableModel(ExplainableModel):
    """One decision tree, explained by TreeSHAP."""

    family = "decision_tree"
    method = "mimic.tree"
    regressor = DecisionTreeRegressor
    classifier = DecisionTreeClassifier

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        return DecisionTreeRegressor(**{"random_state": seed, **args}).fit(X, y)


class LinearExplainableModel(ExplainableModel):
    """Least squares (the reference's LinearRegression), explained in closed form."""

    family = "linear"
    method = "mimic.linear"
    regressor = LinearRegression
    classifier = LogisticRegression

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        return LinearRegression(**args).fit(X, y)


class SGDExplainableModel(ExplainableModel):
    """A linear model fitted by stochastic gradient descent on standardized features."""

    family = "sgd"
    method = "mimic.sgd"
    regressor = SGDRegressor
    classifier = SGDClassifier

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        return _standardized_linear(SGDRegressor(**{"random_state": seed, **args}), X, y)


def _standardized_linear(estimator: Any, X: np.ndarray, y: np.ndarray) -> LinearRegression:
    """Fit on standardized columns, then state the same function over the original columns as a
    plain linear model: f(x) = w.(x - mean)/scale + b = (w/scale).x + (b - w.mean/scale)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    estimator.fit((X - mean) / scale, y)
    w = np.ravel(estimator.coef_) / scale
    linear = LinearRegression()
    linear.coef_ = w
    linear.intercept_ = float(np.ravel(estimator.intercept_)[0] - w @ mean)
    linear.n_features_in_ = X.shape[1]
    return linear


FAMILIES: tuple[type[ExplainableModel], ...] = (
    LGBMExplainableModel,
    LinearExplainableModel,
    SGDExplainableModel,
    DecisionTreeExplainableModel,
)


class SurrogateModel:
    """The fitted surrogate: one regressor per learned output (one for a regressor or a binary
    classifier, one per class otherwise), with the reference's `predict`, `predict_proba` and `model`.

    For a binary teacher `predict` gives the surrogate's margin (log-odds of the positive class),
    as the reference's; for a multiclass one the index of the most likely class.
    """

    def __init__(self, regressors: list[Any], *, classification: bool, n_classes: int, method: str):
        self.regressors = regressors
        self.classification = classification
        self.n_classes = n_classes
        self.method = method
        self.multiclass = classification and n_classes > 2

    @property
    def model(self) -> Any:
        """The underlying estimator (a list of them, one per class, for a multiclass teacher)."""
        return self.regressors[0] if len(self.regressors) == 1 else list(self.regressors)

    def margins(self, X: np.ndarray) -> np.ndarray:
        """(n, K): regression predictions, or per-class margins (binary: [-m, m])."""
        part = np.stack([np.asarray(r.predict(X), dtype=float) for r in self.regressors], axis=1)
        if self.classification and not self.multiclass:
            return np.concatenate([-part, part], axis=1)
        return part

    def predict(self, X: np.ndarray) -> np.ndarray:
        m = self.margins(X)
        if not self.classification:
            return m[:, 0]
        return m[:, 1] if not self.multiclass else np.argmax(m, axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not self.classification:
            raise AttributeError("a regression surrogate has no predict_proba")
        return probabilities(self.margins(X), multiclass=self.multiclass)


def probabilities(margins: np.ndarray, *, multiclass: bool) -> np.ndarray:
    """Margins (..., K) as probabilities: binary expit; multiclass one-vs-rest expit, normalized."""
    if not multiclass:
        p = expit(margins[..., 1])
        return np.stack([1 - p, p], axis=-1)
    q = expit(margins)
    return q / q.sum(axis=-1, keepdims=True)
