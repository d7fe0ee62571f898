"""From the caller's rows to the model's inputs: the reference design's `features=`,
`transformations=` and `allow_all_transformations=`.

Rows may be arrays (a single 1-D row too), DataFrames with any column labels (integers
included) or a shap `DenseData` summary. With `transformations` (a fitted `ColumnTransformer`,
or a list of fitted `(columns, transformer)` tuples in sklearn-pandas' form, columns by name or
position), the model is the estimator on engineered features and the rows are raw: they are
transformed before explaining, and attributions are folded back onto the raw columns by a
feature map. `scoring.feature_map.derive_feature_map` gives the exact map where it knows every
transformer; otherwise the reference's rule applies: a transformer of one column owns all its
outputs, and one of several columns (many-to-many) splits each output equally among them, which
the reference allows only with `allow_all_transformations=True`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from scoring.compat.models import CategoryCodes, CompatValueError, LabelledFrame, sklearn_ready
from scoring.errors import ValidationError
from scoring.explanation import Explanation, Level
from scoring.feature_map import FeatureMap, derive_feature_map
from scoring.mapper import ColumnMapper
from scoring.pipeline import is_splitter, routes


def rows_of(X: Any) -> tuple[Any, bool]:
    """(2-D rows, whether one 1-D row was given); a shap DenseData gives its rows."""
    if hasattr(X, "data") and hasattr(X, "weights") and not isinstance(X, (pd.DataFrame, np.ndarray)):
        return np.asarray(X.data), False
    if isinstance(X, pd.Series):
        return X.to_frame().T.infer_objects(), True
    if isinstance(X, pd.DataFrame):
        return X, False
    if hasattr(X, "toarray"):
        raise ValidationError(
            "sparse input is not supported by scoring.compat; pass a dense array (X.toarray())",
            field="evaluation_examples",
        )
    rows = np.asarray(X)
    if rows.ndim == 1:
        return rows[None, :], True
    if rows.ndim != 2:
        raise ValidationError(f"expected a 2-D table of rows, got an array of shape {rows.shape}")
    return rows, False


@dataclass(frozen=True)
class Inputs:
    """The caller's columns, and how they become the model's inputs."""

    raw_names: tuple[str, ...]
    # the reference's `features`: given names (any type), a frame's labels, or None
    features: tuple[Any, ...] | None = None
    labels: tuple[Any, ...] | None = None  # a frame's own column labels when they are not strings
    # pandas category columns of a frame the model takes as it is: explained as their codes
    categories: tuple[tuple[str, Any], ...] = ()
    preprocessor: Any = None
    feature_map: FeatureMap | None = None
    whole_pipeline: bool = False

    @classmethod
    def build(
        cls,
        model: Any,
        X: Any,
        *,
        features: Sequence[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
    ) -> Inputs:
        rows, _ = rows_of(X)
        given = None if features is None else tuple(np.asarray(features, dtype=object).tolist())
        labels = None
        if isinstance(rows, pd.DataFrame) and not all(isinstance(c, str) for c in rows.columns):
            labels = tuple(rows.columns)
        frame_names = tuple(rows.columns) if isinstance(rows, pd.DataFrame) else None
        if transformations is None:
            shown = given if given is not None else frame_names
            m = rows.shape[1]
            if shown is not None and len(shown) != m:
                shown = given if given is not None and len(given) == m else frame_names
            raw = tuple(str(f) for f in shown) if shown is not None and len(shown) == m else _default(m)
            categories: tuple[tuple[str, Any], ...] = ()
            if isinstance(rows, pd.DataFrame) and labels is None:
                categories = tuple(
                    (str(c), rows[c].dtype)
                    for c in rows.columns
                    if isinstance(rows[c].dtype, pd.CategoricalDtype)
                )
            return cls(raw, shown, labels, whole_pipeline=isinstance(model, Pipeline), categories=categories)
        preprocessor = _preprocessor(transformations, rows, given)
        raw = _raw_names(rows, given, preprocessor)
        feature_map = derive_feature_map(preprocessor, raw)
        if feature_map is None:
            feature_map = _route_map(preprocessor, raw, allow_all_transformations)
        shown = given if given is not None and len(given) == len(raw) else (frame_names or raw)
        return cls(raw, tuple(shown), labels, preprocessor=preprocessor, feature_map=feature_map)

    def wrap(self, model: Any, X: Any, *, is_function: bool = False) -> Any:
        """The model as the engine calls it: category columns given back as categories, and a
        model that is not a scikit-learn estimator, given a frame with non-string labels, called
        with that frame (the engine's rows are arrays then)."""
        if self.categories:
            return CategoryCodes(model, self.categories)
        rows, _ = rows_of(X)
        if (
            self.labels is not None
            and self.preprocessor is None
            and (is_function or not sklearn_ready(model))
        ):
            return LabelledFrame(model, self.labels, tuple(rows.dtypes), is_function=is_function)
        return model

    @property
    def transformed(self) -> bool:
        return self.preprocessor is not None

    @property
    def model_feature_names(self) -> tuple[str, ...] | None:
        """Names of the model's input columns, for the engine (None: take them from the rows)."""
        if self.feature_map is not None:
            return self.feature_map.engineered_names
        return self.raw_names

    def raw_frame(self, X: Any) -> pd.DataFrame:
        """The caller's rows as a frame with the raw column names (strings)."""
        rows, _ = rows_of(X)
        if isinstance(rows, pd.DataFrame):
            return rows if self.labels is None else rows.set_axis(list(self.raw_names), axis=1)
        if rows.shape[1] != len(self.raw_names):
            raise ValidationError(f"expected rows of {len(self.raw_names)} features, got shape {rows.shape}")
        return pd.DataFrame(rows, columns=list(self.raw_names)).infer_objects()

    def to_model(self, X: Any) -> Any:
        """The rows the model takes: with transformations, transformed to a dense float array;
        a frame with non-string labels as an array (scikit-learn keeps no names for those)."""
        rows, _ = rows_of(X)
        if self.preprocessor is None:
            if isinstance(rows, pd.DataFrame) and self.labels is not None:
                return rows.to_numpy()
            if self.categories and isinstance(rows, pd.DataFrame):
                coded = rows.copy()
                for name, dtype in self.categories:
                    coded[name] = pd.Categorical(rows[name], dtype=dtype).codes.astype(float)
                return coded
            return rows
        if isinstance(rows, pd.DataFrame) and self.labels is None:
            given: Any = rows
        elif hasattr(self.preprocessor, "feature_names_in_"):
            given = self.raw_frame(rows)
        else:
            given = rows.to_numpy() if isinstance(rows, pd.DataFrame) else rows
        try:
            return dense(self.preprocessor.transform(given))
        except NotFittedError:
            if not is_splitter(self.preprocessor):
                raise
            return transform_by_routes(self.preprocessor, given, len(self.raw_names))

    def level(self, level: Level | str | None) -> Level:
        if level is not None:
            return Level(level)
        return Level.RAW if self.transformed or self.whole_pipeline else Level.ENGINEERED

    def finish(self, explanation: Explanation, X: Any, level: Level) -> Explanation:
        """The engine's explanation at the asked level."""
        if self.feature_map is None or level is Level.ENGINEERED:
            return explanation
        raw = self.raw_frame(X).to_numpy(dtype=object)
        return explanation.fold(self.feature_map.matrix, self.feature_map.raw_names, raw_data=raw)


def dense(Z: Any) -> np.ndarray:
    return np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=float)


def _default(m: int) -> tuple[str, ...]:
    return tuple(str(j) for j in range(m))


def _raw_names(rows: Any, given: tuple[Any, ...] | None, preprocessor: Any) -> tuple[str, ...]:
    if isinstance(rows, pd.DataFrame):
        return tuple(str(c) for c in rows.columns)
    if given is not None and len(given) == rows.shape[1]:
        return tuple(str(f) for f in given)
    fitted = getattr(preprocessor, "feature_names_in_", None)
    if fitted is not None:
        return tuple(str(c) for c in fitted)
    return _default(rows.shape[1])


def _route_map(preprocessor: Any, raw: tuple[str, ...], allow_all: bool) -> FeatureMap:
    """The reference's rule for transformers we cannot trace column by column."""
    if not is_splitter(preprocessor):
        raise CompatValueError(
            "transformations= must be a ColumnTransformer or a list of (columns, transformer) tuples "
            f"when its transformers cannot be traced, got {type(preprocessor).__name__}"
        )
    parts = routes(preprocessor, len(raw))
    width = max((r.outputs.stop for r in parts), default=0)
    matrix = np.zeros((width, len(raw)))
    for route in parts:
        cols = route.inputs
        if route.transformer is not None and len(cols) > 1:
            exact = derive_feature_map(route.transformer, [raw[c] for c in cols])
            if exact is not None and exact.matrix.shape[0] == route.outputs.stop - route.outputs.start:
                block = np.zeros((exact.matrix.shape[0], len(raw)))
                block[:, cols] = exact.matrix
                matrix[route.outputs] = block
                continue
            if not allow_all:
                raise CompatValueError(
                    f"the transformation of columns {[raw[c] for c in cols]} mixes several raw columns "
                    "(many to many); pass allow_all_transformations=True to split each of its outputs "
                    "equally among them"
                )
        block = np.zeros((route.outputs.stop - route.outputs.start, len(raw)))
        if route.transformer is None and len(cols) == block.shape[0]:
            block[np.arange(len(cols)), cols] = 1.0  # passthrough
        else:
            block[:, cols] = 1.0 / len(cols)
        matrix[route.outputs] = block
    names = tuple(
        f"{raw[int(np.argmax(row))]}_{j}" if row.any() else f"unused_{j}" for j, row in enumerate(matrix)
    )
    if not np.allclose(matrix.sum(axis=1), 1.0):
        raise CompatValueError("some engineered column of transformations= comes from no raw column")
    return FeatureMap(raw, names, matrix)


class StatelessStep(TransformerMixin, BaseEstimator):
    """A transformer with no fitted state (a custom identity, say), marked as fitted so that it
    can stand in a list of fitted transformations; its outputs are owned as the reference says."""

    def __init__(self, step: Any):
        self.step = step

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X: Any, y: Any = None) -> StatelessStep:
        return self

    def transform(self, X: Any) -> Any:
        return walk(self.step, X)


def walk(step: Any, X: Any) -> Any:
    """Transform X through `step`, a pipeline step by step (scikit-learn's Pipeline.transform
    refuses a pipeline whose last step keeps no fitted state)."""
    if isinstance(step, Pipeline):
        for _, part in step.steps:
            if part is not None and part != "passthrough":
                X = walk(part, X)
        return X
    return step.transform(X)


def transform_by_routes(preprocessor: Any, rows: Any, n_inputs: int) -> np.ndarray:
    """A splitter's transform, part by part (for parts whose own transform refuses to run)."""
    parts = []
    for route in sorted(routes(preprocessor, n_inputs), key=lambda r: r.outputs.start):
        part = (
            rows.iloc[:, route.inputs]
            if isinstance(rows, pd.DataFrame)
            else np.asarray(rows)[:, route.inputs]
        )
        parts.append(dense(part if route.transformer is None else walk(route.transformer, part)))
    return np.hstack(parts) if parts else np.empty((len(rows), 0))


def _stateless(step: Any, sample: pd.DataFrame) -> Any:
    """`step` itself when scikit-learn sees it as fitted; a StatelessStep when it has no fitted
    state but transforms rows; else `step` (and the not-fitted error follows)."""
    if isinstance(step, str):
        return step
    try:
        check_is_fitted(step)
        return step
    except (NotFittedError, TypeError):
        pass
    try:
        walk(step, sample)
    except Exception:
        return step
    return StatelessStep(step)


def _preprocessor(transformations: Any, rows: Any, given: tuple[Any, ...] | None) -> Any:
    """A fitted ColumnTransformer as given; a list of fitted tuples wrapped without refitting."""
    if isinstance(transformations, (list, tuple)):
        m = rows.shape[1]
        names = list(_raw_names(rows, given, None))
        sample = rows.iloc[:5] if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows[:5], columns=names)
        sample = sample.set_axis(names, axis=1)
        tuples: list[tuple[Any, Any]] = []
        for cols, step in transformations:
            spec = [cols] if isinstance(cols, (str, int, np.integer)) else list(cols)
            spec = [names[int(c)] if isinstance(c, (int, np.integer)) and c < m else str(c) for c in spec]
            tuples.append((spec, "passthrough" if step is None else _stateless(step, sample[spec])))
        try:
            return ColumnMapper.from_fitted(tuples, names, sample=sample)
        except NotFittedError as e:
            raise ValidationError(
                "transformations= holds transformers that are not fitted; pass the tuples after fitting "
                f"the pipeline (ColumnMapper, like sklearn-pandas' DataFrameMapper, fits them in place): {e}",
                field="transformations",
            ) from e
    if not hasattr(transformations, "transform"):
        raise ValidationError(
            "transformations= must be a fitted ColumnTransformer or a list of fitted "
            f"(columns, transformer) tuples, got {type(transformations).__name__}",
            field="transformations",
        )
    return transformations
