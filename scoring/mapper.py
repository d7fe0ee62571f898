"""Per-column transformers over a DataFrame: the `[(columns, transformer), ...]` form of
sklearn-pandas' `DataFrameMapper`, which no longer imports with current scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_is_fitted

from scoring.errors import ParameterError

Columns = str | Sequence[str]


class ColumnMapper(TransformerMixin, BaseEstimator):
    """Apply each transformer to its own columns of a DataFrame and stack the results.

    `features` is a list of `(columns, transformer)` pairs: `columns` a column name or a list of
    names (either way the transformer gets a 2-D frame of those columns), `transformer` a
    transformer, a list of transformers applied in turn, or None to pass the columns through.
    Columns named in no pair are dropped (`remainder="drop"`) or passed through at the end
    (`remainder="passthrough"`). The output is a dense array, float when every part is numeric.

    As in sklearn-pandas (and like `Pipeline` with its steps), `fit` fits the given transformer
    objects in place, so the list of `(columns, transformer)` tuples holds fitted transformers
    afterwards.

    After `fit`: `steps_` holds `(column names, fitted transformer or None)` per pair,
    `output_indices_` the slice of output columns each step produced, and
    `get_feature_names_out()` one name per output column.
    """

    def __init__(self, features: Sequence[tuple[Columns, Any]], *, remainder: str = "drop"):
        self.features = features
        self.remainder = remainder

    @classmethod
    def from_fitted(
        cls,
        features: Sequence[tuple[Columns, Any]],
        feature_names_in: Sequence[str],
        sample: pd.DataFrame | None = None,
    ) -> Self:
        """A mapper around transformers that were fitted already (on the named columns of a frame
        with columns `feature_names_in`), without fitting them again; `sample` rows (transformed,
        never fitted on) tell the width of a transformer that cannot name its outputs."""
        mapper = cls(features)
        names = [str(c) for c in feature_names_in]
        steps = []
        for columns, transformer in features:
            step = _as_transformer(transformer)
            if step is not None:
                check_is_fitted(step)
            steps.append((_column_list(columns), step))
        mapper._set_fitted(names, steps, sample=sample)
        return mapper

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        X = _frame(X)
        if self.remainder not in ("drop", "passthrough"):
            raise ParameterError(f"remainder must be 'drop' or 'passthrough', got {self.remainder!r}")
        names = [str(c) for c in X.columns]
        steps = []
        for columns, transformer in self.features:
            cols = _column_list(columns)
            _check_columns(cols, names)
            step = _as_transformer(transformer)
            if step is not None:
                step.fit(X[cols], y)
            steps.append((cols, step))
        self._set_fitted(names, steps, sample=X.head(1))
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def _set_fitted(self, names: list[str], steps: list[tuple[list[str], Any]], sample: Any) -> None:
        if self.remainder == "passthrough":
            used = {c for cols, _ in steps for c in cols}
            rest = [c for c in names if c not in used]
            if rest:
                steps.append((rest, None))
        for cols, _ in steps:
            _check_columns(cols, names)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.steps_ = steps
        out_names: list[str] = []
        self.output_indices_ = []
        for cols, step in steps:
            part = _output_names(cols, step, sample)
            self.output_indices_.append(slice(len(out_names), len(out_names) + len(part)))
            out_names.extend(part)
        self.feature_names_out_ = _unique(out_names)

    # -- transforming ------------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "steps_")
        X = _frame(X)
        _check_columns([c for cols, _ in self.steps_ for c in cols], [str(c) for c in X.columns])
        parts = [
            _dense(step.transform(X[cols]) if step is not None else X[cols]) for cols, step in self.steps_
        ]
        if not parts:
            return np.empty((len(X), 0))
        numeric = all(p.dtype.kind in "biuf" for p in parts)
        return np.hstack([p.astype(float if numeric else object) for p in parts])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "steps_")
        return np.asarray(self.feature_names_out_, dtype=object)


def _frame(X: Any) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"ColumnMapper selects columns by name and needs a DataFrame, got {type(X).__name__}")
    return X


def _column_list(columns: Columns) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    return [str(c) for c in columns]


def _check_columns(cols: list[str], names: list[str]) -> None:
    missing = [c for c in cols if c not in names]
    if missing:
        raise ParameterError(f"column(s) {missing} not in the frame; it has {names}")


def _as_transformer(transformer: Any) -> Any:
    """None, one transformer, or a list of them chained into a pipeline."""
    if transformer is None or (isinstance(transformer, str) and transformer == "passthrough"):
        return None
    if isinstance(transformer, (list, tuple)):
        return make_pipeline(*transformer)
    return transformer


def _output_names(cols: list[str], step: Any, sample: Any) -> list[str]:
    if step is None:
        return list(cols)
    if hasattr(step, "get_feature_names_out"):
        try:
            return [str(n) for n in step.get_feature_names_out(cols)]
        except (AttributeError, TypeError, ValueError):
            pass
    if sample is None:
        raise ParameterError(f"cannot name the outputs of {type(step).__name__} on {cols}")
    width = _dense(step.transform(sample[cols])).shape[1]
    stem = "_".join(cols)
    return [stem] if width == 1 else [f"{stem}_{i}" for i in range(width)]


def _dense(Z: Any) -> np.ndarray:
    Z = Z.toarray() if hasattr(Z, "toarray") else Z
    Z = Z.to_numpy() if isinstance(Z, (pd.DataFrame, pd.Series)) else np.asarray(Z)
    return Z.reshape(len(Z), -1)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out
