"""From the caller's rows to the model's inputs: the reference design's `features=` and
`transformations=`.

With `transformations` (a fitted `ColumnTransformer`, or a list of fitted `(columns, transformer)`
tuples in sklearn-pandas' form), the model is the estimator on engineered features and the rows
are raw: they are transformed before explaining, and attributions are folded back onto the raw
columns by the feature map `scoring.feature_map.derive_feature_map` builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from scoring.errors import ValidationError
from scoring.explanation import Explanation, Level
from scoring.feature_map import FeatureMap, derive_feature_map
from scoring.mapper import ColumnMapper


@dataclass(frozen=True)
class Inputs:
    """The caller's columns, and how they become the model's inputs."""

    raw_names: tuple[str, ...]
    preprocessor: Any = None
    feature_map: FeatureMap | None = None
    # the caller's names for the model's own columns, given by `features=` without transformations
    features: tuple[str, ...] | None = None
    whole_pipeline: bool = False

    @classmethod
    def build(
        cls,
        model: Any,
        X: Any,
        *,
        features: Sequence[Any] | None = None,
        transformations: Any = None,
    ) -> Inputs:
        names = None if features is None else tuple(str(f) for f in features)
        if transformations is None:
            raw = _column_names(X, names)
            return cls(raw_names=raw, features=names, whole_pipeline=isinstance(model, Pipeline))
        preprocessor = _preprocessor(transformations, X, names)
        raw = _column_names(X, names, preprocessor)
        feature_map = derive_feature_map(preprocessor, raw)
        if feature_map is None:
            raise ValidationError(
                "transformations= mixes raw columns, so engineered attributions cannot be folded back "
                "onto raw features; explain the whole pipeline over raw columns instead (pass the "
                "pipeline as the model and no transformations)",
                field="transformations",
            )
        return cls(raw_names=raw, preprocessor=preprocessor, feature_map=feature_map)

    @property
    def transformed(self) -> bool:
        return self.preprocessor is not None

    @property
    def model_feature_names(self) -> tuple[str, ...] | None:
        """Names of the model's input columns, for the engine (None: take them from the rows)."""
        if self.feature_map is not None:
            return self.feature_map.engineered_names
        return self.features

    def default_level(self) -> Level:
        return Level.RAW if self.transformed or self.whole_pipeline else Level.ENGINEERED

    def raw_frame(self, X: Any) -> pd.DataFrame:
        """The caller's rows as a frame with the raw column names."""
        if isinstance(X, pd.DataFrame):
            return X
        rows = np.asarray(X)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != len(self.raw_names):
            raise ValidationError(f"expected rows of {len(self.raw_names)} features, got shape {rows.shape}")
        return pd.DataFrame(rows, columns=list(self.raw_names))

    def to_model(self, X: Any) -> Any:
        """The rows the model takes: with transformations, transformed to a dense float array."""
        if self.preprocessor is None:
            return X
        if hasattr(self.preprocessor, "feature_names_in_") or not isinstance(X, np.ndarray):
            X = self.raw_frame(X)
        return dense(self.preprocessor.transform(X))

    def finish(self, explanation: Explanation, X: Any, level: Level | str | None) -> Explanation:
        """The engine's explanation at the asked level, under the caller's feature names."""
        level = self.default_level() if level is None else Level(level)
        if self.feature_map is None:
            # no transformations: the caller's columns are the model's own inputs
            if self.features is not None and len(self.features) == explanation.n_features:
                explanation = replace(explanation, feature_names=self.features)
            return replace(explanation, level=Level.RAW) if self.whole_pipeline else explanation
        if level is Level.ENGINEERED:
            return explanation
        raw = self.raw_frame(X).to_numpy(dtype=object)
        return explanation.fold(self.feature_map.matrix, self.feature_map.raw_names, raw_data=raw)


def dense(Z: Any) -> np.ndarray:
    return np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=float)


def _column_names(X: Any, features: tuple[str, ...] | None, preprocessor: Any = None) -> tuple[str, ...]:
    if isinstance(X, pd.DataFrame):
        return tuple(str(c) for c in X.columns)
    if features is not None:
        return features
    if preprocessor is not None and hasattr(preprocessor, "feature_names_in_"):
        return tuple(str(c) for c in preprocessor.feature_names_in_)
    m = np.shape(X)[1]
    return tuple(f"x{j}" for j in range(m))


def _preprocessor(transformations: Any, X: Any, features: tuple[str, ...] | None) -> Any:
    """A fitted ColumnTransformer as given; a list of fitted tuples wrapped without refitting."""
    if isinstance(transformations, (list, tuple)):
        names = _column_names(X, features)
        try:
            return ColumnMapper.from_fitted(list(transformations), names)
        except NotFittedError as e:
            raise ValidationError(
                "transformations= holds transformers that are not fitted; pass the tuples after fitting "
                "the pipeline (ColumnMapper, like sklearn-pandas' DataFrameMapper, fits them in place) or "
                f"the fitted mapper itself: {e}",
                field="transformations",
            ) from e
    if not hasattr(transformations, "transform"):
        raise ValidationError(
            "transformations= must be a fitted ColumnTransformer or a list of fitted "
            f"(columns, transformer) tuples, got {type(transformations).__name__}",
            field="transformations",
        )
    return transformations
