"""The reference design's four surrogate families, and the fitted surrogate they give.

As in the reference, a surrogate learns the teacher's output: a regressor's predictions; for a
binary classifier, the positive class's soft logit (logit clipped to [-5, 5]); for several
classes, each class's softmax margin (its log probability less the row's mean; the surrogate's
probabilities are the softmax of its margins). The reference fitted a multiclass surrogate on the
teacher's labels; probabilities keep more of the teacher. The linear and SGD families fit a
logistic model (the reference's LogisticRegression / SGDClassifier) on the teacher's
probabilities as soft labels. Each fitted regressor is explained exactly by our engine (TreeSHAP
or closed-form linear SHAP).

`explainable_model_args` go to the underlying estimator of the form fitted (regressor, or the
classifier form for a classifier's linear and SGD surrogates); an argument neither form takes is
an error.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, logit
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, SGDClassifier, SGDRegressor
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
        """The arguments either form takes (each fit uses those of the form it fits); others are errors."""
        mine, theirs = _params(cls.regressor), _params(cls.classifier)
        unknown = sorted(set(args) - mine - theirs - cls.extra_args())
        if unknown:
            raise CompatValueError(
                f"{cls.__name__} got unknown explainable_model_args {unknown}; "
                f"{cls.regressor.__name__} takes {sorted(mine)}, {cls.classifier.__name__} {sorted(theirs)}"
            )
        return dict(args)

    @classmethod
    def for_regressor(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        keep = _params(cls.regressor) | cls.extra_args()
        return {k: v for k, v in args.items() if k in keep}

    @classmethod
    def extra_args(cls) -> set[str]:
        return set()

    @classmethod
    @abstractmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        """A fitted regressor of y on X."""

    @classmethod
    def fit_classes(cls, X: np.ndarray, P: np.ndarray, *, args: Mapping[str, Any], seed: int) -> list[Any]:
        """Regressors of a classifier's margins, from its probabilities P (n, K): for two classes
        one, of the positive class's soft logit; else one per class, of its centered log-ratio."""
        regressor_args = {k: v for k, v in args.items() if k not in cls.classifier_only()}
        if P.shape[1] == 2:
            return [cls.fit_regressor(X, soft_logit(P[:, 1]), args=regressor_args, seed=seed)]
        targets = centered_log_ratio(P).T
        return [cls.fit_regressor(X, y, args=regressor_args, seed=seed) for y in targets]

    @classmethod
    def classifier_only(cls) -> set[str]:
        """Arguments only the classifier form takes."""
        return set()


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
        params.update(cls.for_regressor(args))
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
        return DecisionTreeRegressor(**{"random_state": seed, **cls.for_regressor(args)}).fit(X, y)


class LinearExplainableModel(ExplainableModel):
    """Least squares (the reference's LinearRegression), explained in closed form."""

    family = "linear"
    method = "mimic.linear"
    regressor = LinearRegression
    classifier = LogisticRegression

    @classmethod
    def extra_args(cls) -> set[str]:
        return {"sparse_data"}  # the reference's: an L1 (Lasso) regressor for sparse data

    @classmethod
    def split_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        if not args.get("sparse_data"):
            return super().split_args(args)
        known = _params(Lasso) | _params(LogisticRegression) | cls.extra_args()
        unknown = sorted(set(args) - known)
        if unknown:
            raise CompatValueError(
                f"{cls.__name__} got unknown explainable_model_args {unknown}; with sparse_data, Lasso "
                f"takes {sorted(_params(Lasso))}, LogisticRegression {sorted(_params(LogisticRegression))}"
            )
        return dict(args)

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        if args.get("sparse_data"):
            return Lasso(**{k: v for k, v in args.items() if k in _params(Lasso)}).fit(X, y)
        given = {k: v for k, v in cls.for_regressor(args).items() if k != "sparse_data"}
        return LinearRegression(**given).fit(X, y)

    @classmethod
    def fit_classes(cls, X: np.ndarray, P: np.ndarray, *, args: Mapping[str, Any], seed: int) -> list[Any]:
        """Logistic regression (the reference's) on the teacher's probabilities as soft labels."""
        given = {k: v for k, v in args.items() if k in _params(LogisticRegression)}
        if P.shape[1] > 2 and given.get("solver") == "liblinear":
            given.pop("solver")  # one-vs-rest only; the multinomial fit needs another solver
        params = {"max_iter": 1000, "random_state": seed, **given}
        return _soft_logistic(LogisticRegression(**params), X, P, standardize=True)


class SGDExplainableModel(ExplainableModel):
    """A linear model fitted by stochastic gradient descent on standardized features."""

    family = "sgd"
    method = "mimic.sgd"
    regressor = SGDRegressor
    classifier = SGDClassifier

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        return _standardized_linear(SGDRegressor(**{"random_state": seed, **cls.for_regressor(args)}), X, y)

    @classmethod
    def fit_classes(cls, X: np.ndarray, P: np.ndarray, *, args: Mapping[str, Any], seed: int) -> list[Any]:
        """A logistic-loss SGD classifier on the teacher's probabilities as soft labels."""
        given = {k: v for k, v in args.items() if k in _params(SGDClassifier)}
        params = {"loss": "log_loss", "random_state": seed, **given}
        return _soft_logistic(SGDClassifier(**params), X, P, standardize=True)


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


def _soft_logistic(classifier: Any, X: np.ndarray, P: np.ndarray, *, standardize: bool = False) -> list[Any]:
    """Fit on soft labels (each row once per class, weighted by its probability: the
    cross-entropy against the teacher's probabilities) and state its margins as linear
    regressors over the original columns: one for two classes, one per class otherwise."""
    n, k = P.shape
    mean = X.mean(axis=0) if standardize else np.zeros(X.shape[1])
    scale = X.std(axis=0) if standardize else np.ones(X.shape[1])
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    classifier.fit(np.tile(Z, (k, 1)), np.repeat(np.arange(k), n), sample_weight=P.T.reshape(-1) + 1e-12)
    coef, intercept = np.atleast_2d(classifier.coef_), np.ravel(classifier.intercept_)
    out = []
    for w_std, b_std in zip(coef, intercept, strict=True):
        w = w_std / scale
        linear = LinearRegression()
        linear.coef_ = w
        linear.intercept_ = float(b_std - w @ mean)
        linear.n_features_in_ = X.shape[1]
        out.append(linear)
    return out


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


def centered_log_ratio(p: np.ndarray) -> np.ndarray:
    """(n, K) probabilities as softmax margins: log p_k minus the row's mean log p, with each
    probability kept within the soft logit's range (e^-5 .. 1)."""
    logs = np.log(np.clip(p, np.exp(-LOGIT_CLIP), 1.0))
    return logs - logs.mean(axis=1, keepdims=True)


def probabilities(margins: np.ndarray, *, multiclass: bool) -> np.ndarray:
    """Margins (..., K) as probabilities: binary expit of the positive class; multiclass softmax."""
    if not multiclass:
        p = expit(margins[..., 1])
        return np.stack([1 - p, p], axis=-1)
    z = np.exp(margins - margins.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
