"""Reading a fitted scikit-learn model: its preprocessor and final estimator, which input columns
each part of a column splitter takes, and which raw inputs the model can take (nulls, unseen
categories)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from scoring.direct import Direct, direct_calls
from scoring.mapper import ColumnMapper

IMPUTERS: tuple[type, ...] = (SimpleImputer, KNNImputer)
try:  # IterativeImputer is behind an experimental import
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    IMPUTERS = (*IMPUTERS, IterativeImputer)
except ImportError:  # pragma: no cover
    pass


@dataclass(frozen=True)
class Route:
    """One part of a column splitter: the input columns it takes, its transformer (None passes
    them through) and the output columns it fills."""

    inputs: list[int]
    transformer: Any
    outputs: slice


def split_model(model: Any) -> tuple[Any | None, Any]:
    """(preprocessor, estimator): a Pipeline's steps before the last and its last step;
    a bare estimator has no preprocessor."""
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], model[-1]
    if isinstance(model, Pipeline):
        return None, model[-1]
    return None, model


def model_input(model: Any, X: pd.DataFrame) -> Any:
    """Rows in the form `model` was fitted on: the frame if it saw column names, else an array
    (so that scikit-learn does not warn that it was fitted without feature names)."""
    if hasattr(model, "feature_names_in_") or not hasattr(model, "n_features_in_"):
        return X
    return X.to_numpy()


@dataclass(frozen=True)
class Pass:
    """How one pass over raw rows reaches a fitted model, worked out once per model.

    `preprocessor` (None for a bare estimator) runs once, then `estimator`'s probability function
    once. `argmax_labels`: the estimator's `predict` is, in its own code, the class of the largest
    probability, so the label is read from those (bit for bit). `checked_names`: the column
    names the first step was fitted on, when it uses them only to check them (a scikit-learn step
    that selects no column by name; else None), so a numeric frame whose columns are exactly these,
    in order, can go to it as its float block (inside `unnamed_rows()`); scikit-learn's DataFrame
    path costs about 0.45 ms a call, the block 0.1 ms. `direct`: the estimator's own arithmetic
    on a checked float block, when it has one (scoring.direct: its per-call checks cost more than
    one row's arithmetic).
    """

    preprocessor: Any | None
    estimator: Any
    probabilities: bool
    argmax_labels: bool
    checked_names: tuple[str, ...] | None
    direct: Direct | None = None

    @classmethod
    def of(cls, model: Any) -> Pass:
        from sklearn.base import is_classifier
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        preprocessor, estimator = split_model(model)
        probabilities = bool(is_classifier(estimator)) and hasattr(estimator, "predict_proba")
        first = model
        while isinstance(first, Pipeline):
            first = first.steps[0][1]
        checked_names = None
        if (
            hasattr(first, "feature_names_in_")
            and type(first).__module__.startswith("sklearn.")
            and not isinstance(first, (ColumnTransformer, FeatureUnion, FunctionTransformer))
        ):
            checked_names = tuple(str(name) for name in first.feature_names_in_)
        argmax = probabilities and isinstance(estimator, (RandomForestClassifier, ExtraTreesClassifier))
        return cls(preprocessor, estimator, probabilities, argmax, checked_names, direct_calls(estimator))

    def transform(self, rows: Any) -> Any:
        """The preprocessor's output for `rows` (as `rows` gives them); the rows themselves when
        there is no preprocessor."""
        if self.preprocessor is None:
            return rows
        with unnamed_rows():  # a frame's float block, to a step fitted on the frame
            return self.preprocessor.transform(rows)

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """The estimator's probabilities of the preprocessed `inputs`."""
        direct = self.direct
        if direct is not None and direct.predict_proba is not None and direct.takes(inputs):
            return direct.predict_proba(inputs)
        with unnamed_rows():
            return np.asarray(self.estimator.predict_proba(inputs), dtype=float)

    def labels(self, inputs: Any, probabilities: np.ndarray | None) -> np.ndarray:
        """The estimator's own labels of the preprocessed `inputs`, given its `probabilities` of
        them (from `predict_proba`): read from those where they decide the label (a binary SVC,
        scoring.direct), else its `predict`."""
        direct = self.direct
        if (
            probabilities is not None
            and direct is not None
            and direct.labels_from is not None
            and direct.takes(inputs)
        ):
            return direct.labels_from(inputs, probabilities)
        return self.predict(inputs)

    def predict(self, inputs: Any) -> np.ndarray:
        """The estimator's own labels (or values) of the preprocessed `inputs`."""
        direct = self.direct
        if direct is not None and direct.predict is not None and direct.takes(inputs):
            return direct.predict(inputs)
        with unnamed_rows():
            return np.asarray(self.estimator.predict(inputs))

    def rows(self, model: Any, X: pd.DataFrame) -> Any:
        """The rows as the model's first step takes them (see `checked_names`)."""
        if self.checked_names is not None and tuple(X.columns.tolist()) == self.checked_names:
            block = X.to_numpy()
            if block.dtype == np.float64:
                return block
        return model_input(model, X)


@contextmanager
def unnamed_rows() -> Iterator[None]:
    """Silence scikit-learn's warning that rows came without the names a step was fitted with:
    given where `Pass.checked_names` says the names are only checked."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


def is_identity(transformer: Any) -> bool:
    if transformer is None or (isinstance(transformer, str) and transformer == "passthrough"):
        return True
    return isinstance(transformer, FunctionTransformer) and transformer.func is None


# Column-wise transformers whose output column j is computed from input column j alone.
ONE_TO_ONE: tuple[type, ...] = (
    StandardScaler,
    MinMaxScaler,
    MaxAbsScaler,
    RobustScaler,
    PowerTransformer,
    QuantileTransformer,
    Binarizer,
    OrdinalEncoder,
)


def is_one_to_one(transformer: Any) -> bool:
    if is_identity(transformer):
        return True
    if isinstance(transformer, FunctionTransformer):
        return isinstance(transformer.func, np.ufunc)  # element-wise, so column-wise
    if isinstance(transformer, KBinsDiscretizer):
        return transformer.encode == "ordinal"
    if isinstance(transformer, TargetEncoder):
        return transformer.target_type_ != "multiclass"
    return isinstance(transformer, ONE_TO_ONE)


def is_splitter(transformer: Any) -> bool:
    """A transformer that sends different input columns to different transformers."""
    return isinstance(transformer, (ColumnTransformer, ColumnMapper))


def routes(splitter: Any, n_inputs: int) -> list[Route]:
    """The parts of a fitted ColumnTransformer or ColumnMapper, dropped parts left out."""
    names = _input_names(splitter, n_inputs)
    out: list[Route] = []
    if isinstance(splitter, ColumnMapper):
        for (cols, step), outputs in zip(splitter.steps_, splitter.output_indices_, strict=True):
            out.append(Route(column_indices(cols, names), step, outputs))
        return out
    for name, transformer, columns in splitter.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        outputs = splitter.output_indices_[name]
        if outputs.stop - outputs.start == 0:
            continue
        step = None if is_identity(transformer) else transformer
        out.append(Route(column_indices(columns, names), step, outputs))
    return out


def _input_names(splitter: Any, n_inputs: int) -> list[str] | None:
    names = getattr(splitter, "feature_names_in_", None)
    if names is None:
        return None
    names = [str(n) for n in names]
    if len(names) != n_inputs:
        raise ValueError(f"{type(splitter).__name__} takes {len(names)} columns, given {n_inputs}")
    return names


def column_indices(spec: Any, names: Sequence[str] | None) -> list[int]:
    """Positions of a column selection (a name, a position, a slice, a list or a boolean mask)."""
    if isinstance(spec, slice):
        if names is None or isinstance(spec.start, (int, type(None))):
            n = len(names) if names is not None else max(spec.stop or 0, 0)
            return list(range(n))[spec]
        start = list(names).index(spec.start)
        stop = list(names).index(spec.stop) + 1  # label slices include their end
        return list(range(start, stop))
    items = [spec] if isinstance(spec, (str, int, np.integer)) else list(spec)
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        return [i for i, keep in enumerate(items) if keep]
    out = []
    for v in items:
        if isinstance(v, (int, np.integer)):
            out.append(int(v))
        elif names is not None and str(v) in names:
            out.append(list(names).index(str(v)))
        else:
            raise ValueError(f"column {v!r} is not among the inputs {names}")
    return out


# -- what raw inputs the model takes ------------------------------------------------------------
def entry_steps(transformer: Any, column: int, n_inputs: int) -> list[Any] | None:
    """The transformers input `column` meets first, in order, until it is mixed into other
    columns or handed on to the next step; None if `transformer` drops it."""
    if is_identity(transformer):
        return []
    if is_splitter(transformer):
        for route in routes(transformer, n_inputs):
            if column in route.inputs:
                return entry_steps(route.transformer, route.inputs.index(column), len(route.inputs))
        return None
    if isinstance(transformer, Pipeline):
        chain: list[Any] = []
        for _, step in transformer.steps:
            if is_identity(step):
                continue
            if step == "drop":
                return None
            if is_splitter(step) or isinstance(step, (Pipeline, FeatureUnion)):
                rest = entry_steps(step, column, n_inputs)
                return None if rest is None else chain + rest
            chain.append(step)
            if not _keeps_columns(step):
                break
        return chain
    return [transformer]


def _keeps_columns(step: Any) -> bool:
    """True when a step's output column j is its input column j (so the next step sees it there)."""
    if isinstance(step, SimpleImputer):
        return not step.add_indicator and bool(
            step.keep_empty_features or not pd.isna(np.asarray(step.statistics_, dtype=object)).any()
        )
    return is_one_to_one(step)


def takes_missing(steps: list[Any] | None, estimator: Any) -> bool:
    """Whether a column reaching these steps (then the estimator) may be null."""
    if steps is None:
        return True  # dropped: its value is never used
    if steps:
        first = steps[0]
        if isinstance(first, OrdinalEncoder) and _is_nan(first.encoded_missing_value):
            # missing values become NaN codes: fine when every later step and the estimator take NaN
            return len(steps) == 1 and _allows_nan(estimator)
        return isinstance(first, IMPUTERS)
    return _allows_nan(estimator)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def takes_unseen(steps: list[Any] | None) -> bool:
    """Whether a categorical column reaching these steps may hold a category not seen in fit."""
    if steps is None:
        return True
    for step in steps:
        if isinstance(step, IMPUTERS):
            continue
        if isinstance(step, OneHotEncoder):
            return step.handle_unknown in ("ignore", "infrequent_if_exist", "warn")
        if isinstance(step, OrdinalEncoder):
            return step.handle_unknown == "use_encoded_value"
        return isinstance(step, TargetEncoder)
    return False


def _allows_nan(estimator: Any) -> bool:
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(estimator).input_tags.allow_nan)
    except Exception:
        return False


def accepted_inputs(model: Any, raw_names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(nullable, accepts_unseen): the raw columns that may be null because the model imputes
    them (or its estimator takes NaN), and those that may hold unseen categories because their
    encoder ignores them."""
    preprocessor, estimator = split_model(model)
    nullable, unseen = [], []
    for j, name in enumerate(raw_names):
        steps = [] if preprocessor is None else entry_steps(preprocessor, j, len(raw_names))
        if takes_missing(steps, estimator):
            nullable.append(name)
        if takes_unseen(steps):
            unseen.append(name)
    return nullable, unseen
