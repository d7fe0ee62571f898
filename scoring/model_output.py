"""What an explainer explains: a model turned into a function from rows to an (n, K) output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier

from scoring.errors import UnsupportedModelError, ValidationError
from scoring.explanation import Space
from scoring.pipeline import Pass, unnamed_rows
from scoring.walks import Switch, Walk, switch_of, walk_of


@dataclass(frozen=True)
class Columns:
    """The model's input columns: names and pandas dtypes, so rows can be rebuilt as the model saw them."""

    names: tuple[str, ...]
    dtypes: tuple[str, ...]
    as_frame: bool

    @classmethod
    def from_data(cls, X: Any, feature_names: Sequence[str] | None = None) -> Columns:
        if isinstance(X, pd.DataFrame):
            names = tuple(str(c) for c in X.columns)
            return cls(names, tuple(str(t) for t in X.dtypes), as_frame=True)
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValidationError(f"expected a 2-D table of rows, got an array of shape {X.shape}")
        m = X.shape[1]
        names = tuple(feature_names) if feature_names is not None else tuple(f"x{j}" for j in range(m))
        if len(names) != m:
            raise ValidationError(f"{len(names)} feature names for {m} columns")
        dtype = "float64" if X.dtype.kind in "biuf" else "object"
        return cls(names, (dtype,) * m, as_frame=False)

    @cached_property  # read on every explain call; the dtypes never change
    def numeric(self) -> bool:
        return all(np.dtype(t).kind in "biuf" for t in self.dtypes if t not in ("category", "string"))

    def to_array(self, X: Any) -> np.ndarray:
        """Rows as a 2-D array in our column order (float when every column is numeric)."""
        if isinstance(X, pd.DataFrame):
            dtype = float if self.numeric else object
            if tuple(X.columns.tolist()) == self.names:  # already in order (as the schema builds frames)
                X = X.to_numpy(dtype=dtype)
            else:
                missing = [c for c in self.names if c not in X.columns]
                if missing:
                    raise ValidationError(f"missing column(s) {missing}", field=missing[0])
                X = X.loc[:, list(self.names)].to_numpy(dtype=dtype)
        else:
            X = np.asarray(X, dtype=float if self.numeric else object)
            if X.ndim == 1:
                X = X[None, :]
        if X.ndim != 2 or X.shape[1] != len(self.names):
            raise ValidationError(
                f"X has {X.shape[-1]} features, but the explainer is expecting {len(self.names)}"
            )
        return X

    def to_model(self, X: np.ndarray) -> Any:
        """Rows in the form the model was fitted on (a typed DataFrame or a float array)."""
        if not self.as_frame:
            return X
        X = np.asarray(X)
        if X.dtype == np.float64:
            # one float block; only columns of another dtype are cast (a cast per column costs
            # about half a millisecond, most of a single row's explanation on a wide table)
            frame = pd.DataFrame(X, columns=list(self.names), copy=False)
            return frame.astype(self._not_float) if self._not_float else frame
        frame = pd.DataFrame(X, columns=list(self.names))
        return frame.astype(dict(zip(self.names, self.dtypes, strict=True)))

    @cached_property
    def _not_float(self) -> dict[str, str]:
        return {n: t for n, t in zip(self.names, self.dtypes, strict=True) if t != "float64"}

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "dtypes": list(self.dtypes), "as_frame": self.as_frame}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Columns:
        return cls(tuple(d["names"]), tuple(d["dtypes"]), bool(d["as_frame"]))


@dataclass(frozen=True)
class ModelOutput:
    """f(X) -> (n, K) in a stated space, with one name per output."""

    model: Any
    columns: Columns
    space: Space
    output_names: tuple[str, ...]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self._float_block:
            with unnamed_rows():  # fitted on a frame whose names it only checks
                return self._call(np.asarray(X, dtype=float))
        return self._call(self.columns.to_model(X))

    @cached_property
    def _float_block(self) -> bool:
        """Whether rows can go to the model as a float array although it was fitted on a frame:
        every column float, and a first step that uses the names only to check them
        (scoring.pipeline.Pass); scikit-learn's DataFrame path costs ~0.45 ms a call."""
        if not self.columns.as_frame or any(t != "float64" for t in self.columns.dtypes):
            return False
        return self._pass.checked_names == self.columns.names

    @cached_property
    def _pass(self) -> Pass:
        return Pass.of(self.model)

    @cached_property
    def walk(self) -> Walk | None:
        """The outputs along permutation walks without building their rows (scoring.walks), for
        a bare estimator that takes float rows and has such a path; else None."""
        if self._pass.preprocessor is not None or any(t != "float64" for t in self.columns.dtypes):
            return None
        if self.columns.as_frame and not self._float_block:
            return None
        return walk_of(self._pass.estimator, str(self.space))

    @cached_property
    def switch(self) -> Switch | None:
        """The outputs one feature away from rows and anchors without building those rows
        (scoring.walks.switch_outputs), where `walk` has a path; else None."""
        if self.walk is None:
            return None
        return switch_of(self._pass.estimator, str(self.space))

    def _call(self, data: Any) -> np.ndarray:
        if self.space is Space.PROBABILITY:
            if self._pass.preprocessor is None:  # the estimator itself (its direct path, if any)
                return self._pass.predict_proba(data)
            return np.asarray(self.model.predict_proba(data), dtype=float)
        if self.space is Space.RAW:
            out = np.asarray(self.model.predict(data), dtype=float)
            return out.reshape(out.shape[0], -1)
        margin = np.asarray(self.model.decision_function(data), dtype=float)
        if margin.ndim == 1:  # binary: the margin of the positive class; class 0 is its negative
            return np.stack([-margin, margin], axis=1)
        return margin


def _is_classifier(model: Any) -> bool:
    """sklearn's test; a model outside sklearn's tag system (a plain object with `predict`) raises
    there, so it is a classifier when it has `classes_`."""
    try:
        return bool(is_classifier(model))
    except (AttributeError, TypeError):
        return hasattr(model, "classes_")


def output_names(model: Any, target_name: str = "prediction") -> tuple[str, ...]:
    if _is_classifier(model):
        return tuple(str(c) for c in model.classes_)
    n_out = getattr(model, "n_outputs_", 1)
    return (target_name,) if n_out == 1 else tuple(f"{target_name}_{i}" for i in range(n_out))


def default_space(model: Any) -> Space:
    """Classifiers are explained in probability space when they have one, regressors raw."""
    if not _is_classifier(model):
        return Space.RAW
    if hasattr(model, "predict_proba"):
        try:
            # SVC(probability=False) has the attribute but raises on access
            model.predict_proba  # noqa: B018
            return Space.PROBABILITY
        except AttributeError:
            pass
    if hasattr(model, "decision_function"):
        return Space.LOG_ODDS
    raise UnsupportedModelError(f"{type(model).__name__} has neither predict_proba nor decision_function")


def make_output(
    model: Any,
    columns: Columns,
    space: Space | None = None,
    class_names: Sequence[str] | None = None,
) -> ModelOutput:
    space = default_space(model) if space is None else Space(space)
    names = output_names(model)
    if class_names is not None:
        if len(class_names) != len(names):
            raise ValidationError(f"{len(class_names)} class names for {len(names)} classes")
        names = tuple(str(c) for c in class_names)
    return ModelOutput(model=model, columns=columns, space=space, output_names=names)
