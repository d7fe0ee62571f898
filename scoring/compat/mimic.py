"""The reference design's MimicExplainer: a global surrogate trained on the model's own outputs,
explained exactly, with its fidelity measured on held-out rows and reported.

Choice of target: the reference design trained a surrogate *classifier* on the model's predicted
labels. We fit *regressors* on the model's own output instead: class probabilities (or margins
for a classifier without probabilities, or predictions for a regressor), one regressor per class
(for two classes, one for the positive class; the other is its complement). So the surrogate
explains the same quantity as `TabularExplainer`, in the same space, and fidelity is an R² on
that output, a stricter test than agreement of labels (which is reported too, for classifiers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeRegressor

from scoring.compat.base import LocalGlobalExplainer, model_task
from scoring.compat.inputs import Inputs
from scoring.errors import ValidationError
from scoring.explainers import ScoringExplainer, make_explainer
from scoring.explanation import Explanation, Level, Method, Space
from scoring.model_output import Columns, ModelOutput, make_output

# augmented training rows stop growing here, whatever max_num_of_augmentations allows
MAX_AUGMENTED_ROWS = 10_000
# noise added to a numeric column of an augmented copy, as a share of the column's spread
NOISE_SCALE = 0.1


class ExplainableModel(ABC):
    """A surrogate family: how to fit one regressor that our engine explains exactly."""

    family: ClassVar[str]

    @classmethod
    @abstractmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        """A fitted regressor of y on X (`args` are the underlying estimator's parameters)."""


class LGBMExplainableModel(ExplainableModel):
    """Gradient-boosted trees (LightGBM), explained by TreeSHAP."""

    family = "lightgbm"

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        from lightgbm import LGBMRegressor

        # one thread: surrogate data are small, and OpenMP threads then cost more than they save
        # (many times more on a busy machine); pass n_jobs in explainable_model_args to change it
        params = {"n_estimators": 100, "n_jobs": 1, "random_state": seed, "verbose": -1, **args}
        return LGBMRegressor(**params).fit(X, y)


class DecisionTreeExplainableModel(ExplainableModel):
    """One decision tree, explained by TreeSHAP."""

    family = "decision_tree"

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        return DecisionTreeRegressor(**{"random_state": seed, **args}).fit(X, y)


class LinearExplainableModel(ExplainableModel):
    """Ridge regression on standardized features, explained in closed form."""

    family = "linear"

    @classmethod
    def fit_regressor(cls, X: np.ndarray, y: np.ndarray, *, args: Mapping[str, Any], seed: int) -> Any:
        return _standardized_linear(Ridge(**{"alpha": 1.0, **args}), X, y)


class SGDExplainableModel(ExplainableModel):
    """A linear model fitted by stochastic gradient descent on standardized features."""

    family = "sgd"

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


class MimicExplainer(LocalGlobalExplainer):
    """Train an explainable surrogate on `model`'s outputs over the initialization examples and
    explain the surrogate (TreeSHAP or closed-form linear SHAP).

    A share `holdout` of the examples (when there are at least 10) is kept out of training;
    `fidelity_` is the R² of the surrogate against the model's own outputs on those rows, and
    `fidelity_report_` adds label agreement for classifiers. Every explanation carries the
    held-out figures and the same figures on the rows it explains: additivity holds for the
    surrogate's outputs, which differ from the model's by what fidelity says.

    `augment_data=True` adds up to `max_num_of_augmentations` copies of the training rows with
    Gaussian noise (10% of each numeric column's standard deviation; columns with at most two
    distinct values and non-numeric columns are copied as they are), labelled by the model.
    Unlike the reference design, augmentation is off unless asked for.
    """

    def __init__(
        self,
        model: Any,
        initialization_examples: Any,
        explainable_model: type[ExplainableModel],
        *,
        explainable_model_args: Mapping[str, Any] | None = None,
        augment_data: bool = False,
        max_num_of_augmentations: int = 10,
        features: Sequence[Any] | None = None,
        classes: Sequence[Any] | None = None,
        transformations: Any = None,
        holdout: float = 0.2,
        seed: int = 0,
    ):
        if not (isinstance(explainable_model, type) and issubclass(explainable_model, ExplainableModel)):
            raise ValidationError(
                f"explainable_model must be one of {[f.__name__ for f in FAMILIES]}, "
                f"got {explainable_model!r}",
                field="explainable_model",
            )
        if not 0 <= holdout < 1:
            raise ValidationError(f"holdout must be in [0, 1), got {holdout}", field="holdout")
        self.model = model
        self.initialization_examples = initialization_examples
        self.explainable_model = explainable_model
        self.explainable_model_args = dict(explainable_model_args or {})
        self.augment_data = augment_data
        self.max_num_of_augmentations = max_num_of_augmentations
        self.features = features
        self.classes = classes
        self.transformations = transformations
        self.holdout = holdout
        self.seed = seed
        self.inputs_ = Inputs.build(
            model, initialization_examples, features=features, transformations=transformations
        )
        self.model_task_ = model_task(model)
        self._fit()

    # -- fitting ---------------------------------------------------------------------------------
    def _fit(self) -> None:
        examples = self.initialization_examples
        rows = self.inputs_.to_model(examples)
        columns = Columns.from_data(rows, self.inputs_.model_feature_names)
        if not columns.numeric:
            raise ValidationError(
                "surrogate models need numeric inputs; pass transformations= to encode the raw columns",
                field="initialization_examples",
            )
        names = None if self.classes is None else [str(c) for c in self.classes]
        self.output_: ModelOutput = make_output(self.model, columns, None, names)
        n = len(rows)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(n)
        n_holdout = round(self.holdout * n) if n >= 10 else 0
        fit_idx, holdout_idx = order[n_holdout:], order[:n_holdout]
        fit_rows = _take(examples, fit_idx)
        train = fit_rows
        if self.augment_data:
            copies = min(self.max_num_of_augmentations, max(0, MAX_AUGMENTED_ROWS // len(fit_idx) - 1))
            train = augment(fit_rows, copies, seed=self.seed)
        X_train = columns.to_array(self.inputs_.to_model(train))
        target = self.output_(X_train)
        self.fitted_outputs_ = self._fitted_outputs(target.shape[1])
        self.surrogates_ = [
            self.explainable_model.fit_regressor(
                X_train, target[:, k], args=self.explainable_model_args, seed=self.seed
            )
            for k in self.fitted_outputs_
        ]
        background = columns.to_array(self.inputs_.to_model(fit_rows))
        self.explainers_: list[ScoringExplainer] = [
            make_explainer(s, background, feature_names=columns.names, seed=self.seed)
            for s in self.surrogates_
        ]
        self.n_training_rows_ = len(X_train)
        scored_on = "heldout" if n_holdout else "training"
        X_score = (
            columns.to_array(self.inputs_.to_model(_take(examples, holdout_idx))) if n_holdout else X_train
        )
        self.fidelity_report_ = {
            "surrogate": self.explainable_model.__name__,
            "metric": "r2",
            "measured_on": scored_on,
            **_prefixed(scored_on, self._score(self.output_(X_score), self._surrogate_outputs(X_score))),
        }
        self.fidelity_ = float(self.fidelity_report_[f"{scored_on}_r2"])

    def _fitted_outputs(self, k: int) -> list[int]:
        """Two complementary outputs (binary probability or margin) need one regressor."""
        if k == 2 and self.output_.space in (Space.PROBABILITY, Space.LOG_ODDS):
            return [1]
        return list(range(k))

    @property
    def surrogate_model(self) -> Any:
        """The surrogate of the first explained output (of the positive class, for two classes)."""
        return self.surrogates_[0]

    # -- explaining ------------------------------------------------------------------------------
    def _complete(self, part: np.ndarray, *, offset: bool) -> np.ndarray:
        """(..., fitted) -> (..., K): the complement of a binary model's positive class."""
        if self.fitted_outputs_ != [1]:
            return part
        if self.output_.space is Space.PROBABILITY:
            base = 1.0 if offset else 0.0
            return np.concatenate([base - part, part], axis=-1)
        return np.concatenate([-part, part], axis=-1)

    def _surrogate_outputs(self, X: np.ndarray) -> np.ndarray:
        part = np.stack([np.asarray(s.predict(X), dtype=float) for s in self.surrogates_], axis=1)
        return self._complete(part, offset=True)

    def _explain(self, rows: Any) -> Explanation:
        X = self.output_.columns.to_array(rows)
        parts = [e.explain(X) for e in self.explainers_]
        return Explanation(
            values=self._complete(np.concatenate([p.values for p in parts], axis=2), offset=False),
            base_values=self._complete(np.concatenate([p.base_values for p in parts]), offset=True),
            outputs=self._complete(np.concatenate([p.outputs for p in parts], axis=1), offset=True),
            feature_names=self.output_.columns.names,
            output_names=self.output_.output_names,
            space=self.output_.space,
            method=Method.SURROGATE,
            level=Level.ENGINEERED,
            data=X,
        )

    def _score(self, model_out: np.ndarray, surrogate_out: np.ndarray) -> dict[str, Any]:
        k = self.fitted_outputs_
        scores: dict[str, Any] = {"rows": len(model_out)}
        scores["r2"] = float(r2_score(model_out[:, k], surrogate_out[:, k])) if len(model_out) > 1 else None
        if self.model_task_ == "classification":
            agree = np.argmax(model_out, axis=1) == np.argmax(surrogate_out, axis=1)
            scores["label_agreement"] = float(agree.mean())
        return scores

    def _fidelity(self, explanation: Explanation, rows: Any) -> dict[str, Any]:
        X = self.output_.columns.to_array(rows)
        evaluation = self._score(self.output_(X), explanation.outputs)
        return {**self.fidelity_report_, **_prefixed("evaluation", evaluation)}


def _prefixed(prefix: str, scores: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in scores.items()}


def _take(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx]
    return np.asarray(X)[idx]


def augment(X: Any, copies: int, *, seed: int = 0) -> Any:
    """X followed by `copies` noisy copies of itself (same type as X: a frame or an array)."""
    if copies <= 0:
        return X
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    rng = np.random.default_rng(seed)
    noisy = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
        and frame[c].nunique() > 2
    ]
    parts = [frame]
    for _ in range(copies):
        copy = frame.copy()
        for c in noisy:
            values = frame[c].to_numpy(dtype=float)
            spread = np.nanstd(values) * NOISE_SCALE
            copy[c] = values + rng.normal(0.0, spread, size=len(values))
        parts.append(copy)
    out = pd.concat(parts, ignore_index=True)
    if isinstance(X, pd.DataFrame):
        return out
    array = np.asarray(X)
    return out.to_numpy(dtype=float if array.dtype.kind in "biuf" else object)
