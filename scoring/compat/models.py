"""Models as the reference design took them, turned into estimators our engine explains.

The reference explained anything with `predict` / `predict_proba` (outputs as lists, pandas
objects or arrays, no scikit-learn tags needed), or a plain function with `is_function=True`
(a `predict_proba`-like function for a classifier, a `predict`-like one for a regressor).
`adapt_model` wraps such a model in a small scikit-learn estimator whose outputs are float
arrays, so every explainer sees one contract; a scikit-learn estimator with probabilities is
used as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier

from scoring.compat.constants import ModelTask, task_of
from scoring.errors import ValidationError


class CompatValueError(ValidationError, ValueError):
    """A bad argument, raised where the reference raised ValueError (so its callers' handlers still work)."""


def _as_array(values: Any) -> np.ndarray:
    if isinstance(values, (pd.DataFrame, pd.Series)):
        values = values.to_numpy()
    return np.asarray(values)


class FunctionClassifier(ClassifierMixin, BaseEstimator):
    """A classifier made of a probability function f(X) -> (n, K) (or (n,) for the positive class)."""

    def __init__(self, function: Callable[[Any], Any], classes: Sequence[Any]):
        self.function = function
        self.classes = classes

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = _as_array(self.function(X)).astype(float)
        if proba.ndim == 1 or proba.shape[1] == 1:
            p = proba.reshape(-1)
            proba = np.column_stack([1 - p, p])
        return proba

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def fit(self, X: Any, y: Any = None) -> FunctionClassifier:
        return self


class FunctionRegressor(RegressorMixin, BaseEstimator):
    """A regressor made of a prediction function f(X) -> (n,)."""

    def __init__(self, function: Callable[[Any], Any]):
        self.function = function

    def predict(self, X: Any) -> np.ndarray:
        out = _as_array(self.function(X)).astype(float)
        return out.reshape(len(out), -1)[:, 0] if out.ndim > 1 and out.shape[1] == 1 else out

    def fit(self, X: Any, y: Any = None) -> FunctionRegressor:
        return self


class CategoryCodes(BaseEstimator):
    """A model that takes pandas category columns, given their codes instead (as floats): the
    codes are turned back into the categories before each call."""

    def __init__(self, model: Any, categories: tuple[tuple[str, Any], ...]):
        self.model = model
        self.categories = categories

    def _frame(self, X: Any) -> Any:
        frame = X.copy()
        for name, dtype in self.categories:
            codes = np.asarray(frame[name], dtype=float).round().astype(int)
            frame[name] = pd.Categorical.from_codes(
                np.clip(codes, -1, len(dtype.categories) - 1), dtype=dtype
            )
        return frame

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict(self._frame(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict_proba(self._frame(X)), dtype=float)

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.model.classes_)


class LabelledFrame(BaseEstimator):
    """A model (or, with `is_function`, a function) that was given a frame whose column labels
    are not strings (integers, say): the engine calls it with arrays, and each call gets the
    frame back, with those labels and dtypes, as the reference's typed wrapper did."""

    def __init__(
        self, model: Any, labels: tuple[Any, ...], dtypes: tuple[Any, ...], is_function: bool = False
    ):
        self.model = model
        self.labels = labels
        self.dtypes = dtypes
        self.is_function = is_function

    def _frame(self, X: Any) -> pd.DataFrame:
        frame = pd.DataFrame(np.asarray(X), columns=list(self.labels))
        try:
            return frame.astype(dict(zip(self.labels, self.dtypes, strict=True)))
        except (TypeError, ValueError):
            return frame.infer_objects()

    def __call__(self, X: Any) -> Any:
        return self.model(self._frame(X))

    def predict(self, X: Any) -> Any:
        return self.model.predict(self._frame(X))

    @property
    def predict_proba(self) -> Callable[[Any], Any]:
        method = self.model.predict_proba  # AttributeError when the model has none, as hasattr expects
        return lambda X: method(self._frame(X))

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.model.classes_)


def _has_proba(model: Any) -> bool:
    try:
        return callable(model.predict_proba)
    except AttributeError:  # SVC(probability=False) has the attribute but raises on access
        return False


def sklearn_ready(model: Any) -> bool:
    """A scikit-learn estimator whose outputs are arrays already."""
    try:
        is_classifier(model)
    except (AttributeError, TypeError):
        return False
    return type(model).__module__.split(".")[0] in {"sklearn", "lightgbm", "xgboost"}


def _class_labels(model: Any, proba: np.ndarray, classes: Sequence[Any] | None) -> list[Any]:
    labels = getattr(model, "classes_", None)
    if labels is not None and len(labels) == proba.shape[1]:
        return list(labels)
    if classes is not None and len(classes) == proba.shape[1]:
        return list(range(proba.shape[1]))
    return list(range(proba.shape[1]))


def adapt_model(
    model: Any,
    examples: Any,
    *,
    is_function: bool = False,
    model_task: ModelTask | str = ModelTask.UNKNOWN,
    classes: Sequence[Any] | None = None,
) -> tuple[Any, ModelTask]:
    """The estimator to explain and the task, as the reference decides them.

    `model_task=Unknown` means: a classifier when the model (or function) gives probabilities.
    A classifier with only `predict` (model_task='classification') is explained, as in the
    reference, through what `predict` gives: probabilities when it gives one column per class,
    else its predicted label as one numeric output.
    `classes` with a model that has only `predict` (or a function returning one column of labels)
    is the reference's ValueError.
    """
    task = task_of(model_task)
    if is_function:
        if not callable(model):
            raise CompatValueError(f"is_function=True needs a function, got {type(model).__name__}")
        sample = _as_array(model(_head(examples)))
        gives_proba = sample.ndim == 2 and sample.shape[1] > 1
        if classes is not None and not gives_proba:
            raise CompatValueError("Classes is specified but function was predict, not predict_proba.")
        if task is ModelTask.UNKNOWN:
            task = ModelTask.CLASSIFICATION if gives_proba else ModelTask.REGRESSION
        if task is ModelTask.CLASSIFICATION:
            labels = list(classes) if classes is not None else list(range(max(2, sample.shape[-1])))
            k = sample.shape[1] if sample.ndim == 2 else 2
            return FunctionClassifier(model, list(range(k)) if len(labels) != k else labels), task
        return FunctionRegressor(model), task
    if not hasattr(model, "predict") and not _has_proba(model):
        raise CompatValueError(f"{type(model).__name__} has neither predict nor predict_proba")
    proba = _has_proba(model)
    if classes is not None and not proba:
        raise CompatValueError("Classes is specified but model does not define predict_proba, only predict.")
    if task is ModelTask.UNKNOWN:
        task = ModelTask.CLASSIFICATION if proba else ModelTask.REGRESSION
    if task is ModelTask.CLASSIFICATION and not proba:
        if classes is not None:
            raise CompatValueError(
                "Classes is specified but model does not define predict_proba, only predict."
            )
        if sklearn_ready(model) and hasattr(model, "decision_function"):
            return model, task  # explained in margin space
        sample = _as_array(model.predict(_head(examples)))
        if sample.ndim == 2 and sample.shape[1] > 1:  # `predict` gives probabilities
            return FunctionClassifier(model.predict, list(range(sample.shape[1]))), task
        # as the reference: the predicted label, as a number, is the one explained output
        return FunctionRegressor(model.predict), task
    if sklearn_ready(model) and (task is ModelTask.CLASSIFICATION) == bool(is_classifier(model)):
        return model, task
    if task is ModelTask.CLASSIFICATION:
        sample = _as_array(model.predict_proba(_head(examples)))
        labels = _class_labels(model, sample.reshape(len(sample), -1), classes)
        return FunctionClassifier(model.predict_proba, labels), task
    return FunctionRegressor(model.predict), task


def _head(X: Any) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[:2]
    if hasattr(X, "data") and hasattr(X, "weights"):  # a shap DenseData summary
        return X.data[:2]
    rows = np.asarray(X)
    return rows[None, :] if rows.ndim == 1 else rows[:2]
