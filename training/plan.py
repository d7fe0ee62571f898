"""What a bundle's explainer explains: the final estimator over engineered columns folded back to
raw ones by a derived feature map, or the whole model over raw columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from scoring.bundle import dense
from scoring.feature_map import FeatureMap, derive_feature_map
from scoring.mapper import ColumnMapper
from scoring.pipeline import model_input, split_model


@dataclass
class Plan:
    """What the explainer explains: `target` on `X_fit`'s columns, folded to raw by `feature_map`."""

    target: Any
    feature_map: FeatureMap | None
    explains: str
    reason: str


def plan_explanation(model: Any, raw_names: Sequence[str]) -> Plan:
    """A Pipeline whose preprocessing maps back to raw columns is explained on its final
    estimator over engineered columns, then folded; otherwise the whole model over raw columns."""
    preprocessor, estimator = split_model(model)
    if preprocessor is None:
        return Plan(model, None, "the model over its input columns", "no preprocessing")
    feature_map = derive_feature_map(preprocessor, raw_names)
    if feature_map is None:
        return Plan(
            model,
            None,
            "the whole pipeline over raw columns",
            "the preprocessing mixes columns (or uses a transformer with no known column map), so "
            "engineered attributions cannot be folded to raw ones; only the raw level is available",
        )
    return Plan(
        estimator,
        feature_map,
        "the final estimator over engineered columns, folded to raw columns by the feature map",
        "every engineered column is owned by the raw column(s) it comes from",
    )


def over_raw_when_exact(plan: Plan, model: Any, raw_names: Sequence[str], method: str) -> Plan:
    """`auto` for a black-box pipeline whose preprocessing widens the columns (one-hot encoding):
    when the raw columns are few enough to enumerate every coalition but the engineered ones are
    not, explain the whole pipeline over the raw columns, exactly, instead of sampling or
    amortizing over the engineered ones (the engineered level is then not available)."""
    from scoring.explainers import EXACT_MAX_FEATURES
    from scoring.explainers.linear import is_linear
    from scoring.explainers.tree import is_tree_model

    if method != "auto" or plan.feature_map is None:
        return plan
    estimator = plan.target
    engineered = len(plan.feature_map.engineered_names)
    if is_linear(estimator) or is_tree_model(estimator):
        return plan
    if not len(raw_names) <= EXACT_MAX_FEATURES < engineered:
        return plan
    return Plan(
        model,
        None,
        "the whole pipeline over raw columns",
        f"a black box with {engineered} engineered columns from {len(raw_names)} raw ones: every "
        f"coalition of the {len(raw_names)} raw columns is enumerated (exact values, "
        f"{2 ** len(raw_names)} coalitions per background row) instead of a sampled or amortized "
        f"estimate over {engineered} engineered columns; only the raw level is available",
    )


def as_frame(X: Any, feature_names: Sequence[str] | None, model: Any) -> pd.DataFrame:
    """The training rows as a frame with raw column names."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None and [str(c) for c in X.columns] != [str(n) for n in feature_names]:
            raise ValueError(
                f"feature_names {list(feature_names)} differ from the frame's columns {list(X.columns)}"
            )
        return X.rename(columns=str)
    X = np.asarray(X)
    if feature_names is None:
        fitted = getattr(model, "feature_names_in_", None)
        feature_names = list(fitted) if fitted is not None else [f"x{j}" for j in range(X.shape[1])]
    if len(feature_names) != X.shape[1]:
        raise ValueError(f"{len(feature_names)} feature names for {X.shape[1]} columns")
    frame = pd.DataFrame(X, columns=[str(n) for n in feature_names])
    return frame.infer_objects()


def with_transformations(model: Any, transformations: Any, raw_names: Sequence[str]) -> Any:
    """Pipeline(preprocessor, model) from fitted transformations: a fitted transformer, or a list
    of fitted `(columns, transformer)` tuples (the sklearn-pandas form)."""
    if transformations is None:
        return model
    if isinstance(transformations, (list, tuple)):
        transformations = ColumnMapper.from_fitted(list(transformations), raw_names)
    return Pipeline([("preprocessor", transformations), ("model", model)])


def fit_rows(model: Any, plan: Plan, X: pd.DataFrame) -> Any:
    """The rows the explainer takes: engineered (dense) when folding, else the model's own input."""
    if plan.feature_map is None:
        return model_input(model, X)
    return dense(model[:-1].transform(model_input(model, X)))
