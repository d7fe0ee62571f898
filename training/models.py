"""Model families the CLI trains, and the reference design's preprocessing for mixed tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

FAMILIES = (
    "hist_gradient_boosting",
    "svc",
    "logistic",
    "random_forest",
    "gradient_boosting",
    "lightgbm",
    "linear",
)
# the model of `--csv` runs: scales to large tables, takes missing values, has exact TreeSHAP
CSV_FAMILY = "hist_gradient_boosting"


def make_estimator(family: str, *, task: str, preprocessed: bool, seed: int = 0) -> Any:
    """An unfitted estimator of `family` for `task` ("classification" or "regression").

    `svc` on raw numeric data is the reference design's SVC(gamma=0.001, C=100., probability=True);
    on standardized columns gamma=0.001 would be nearly linear, so it keeps scikit-learn's defaults.
    """
    classify = task == "classification"
    if family == "svc":
        from sklearn.svm import SVC, SVR

        if not classify:
            return SVR()
        return SVC(probability=True, random_state=seed) if preprocessed else _reference_svc(seed)
    if family in ("logistic", "linear"):
        from sklearn.linear_model import LogisticRegression, Ridge

        if family == "logistic" and not classify:
            raise ValueError("logistic regression is for classification; use --model linear for regression")
        return LogisticRegression(max_iter=1000) if classify else Ridge()
    if family == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(random_state=seed)
    if family == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(n_estimators=100, random_state=seed)
    if family == "gradient_boosting":
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        cls = GradientBoostingClassifier if classify else GradientBoostingRegressor
        return cls(random_state=seed)
    if family == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        cls = LGBMClassifier if classify else LGBMRegressor
        return cls(n_estimators=100, random_state=seed, verbose=-1)
    raise ValueError(f"unknown model family {family!r}; expected one of {list(FAMILIES)}")


def _reference_svc(seed: int) -> Any:
    from sklearn.svm import SVC

    # scikit-learn 1.9 announces (FutureWarning) that probability=True goes in 1.11; the reference
    # design's model still works, and scikit-learn is pinned.
    return SVC(gamma=0.001, C=100.0, probability=True, random_state=seed)


def needs_preprocessing(X: pd.DataFrame, family: str) -> bool:
    """Mixed tables (text columns or missing values) always, except that histogram gradient
    boosting takes missing numbers as they are; all-numeric complete tables only where the family
    wants standardized inputs (logistic/linear)."""
    text = any(not pd.api.types.is_numeric_dtype(X[c]) for c in X.columns)
    if family == "hist_gradient_boosting":
        return text
    return text or bool(X.isna().any().any()) or family in ("logistic", "linear")


def _numeric_columns(X: pd.DataFrame) -> list[str]:
    return [
        c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]


def make_ordinal_preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    """For histogram gradient boosting: categories as ordinal codes, missing and unseen ones as
    NaN (the trees send NaN the way they learned for missing values); numbers passed through,
    NaN included. The codes are split on as numbers, not with HGB's native categorical splits:
    TreeSHAP (shap's) reads threshold splits only, so this keeps the explanation exact."""
    numeric = _numeric_columns(X)
    categorical = [c for c in X.columns if c not in numeric]
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    return ColumnTransformer(
        [("cat", encoder, categorical), ("num", "passthrough", numeric)], verbose_feature_names_out=False
    )


def make_preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    """The reference design's ColumnTransformer: median imputer + scaler for numbers, constant
    imputer + one-hot (handle_unknown='ignore') for everything else."""
    numeric = _numeric_columns(X)
    categorical = [c for c in X.columns if c not in numeric]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        numbers = Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())])
        parts.append(("num", numbers, numeric))
    if categorical:
        categories = Pipeline(
            [
                ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        parts.append(("cat", categories, categorical))
    return ColumnTransformer(parts)


def make_model(family: str, X: pd.DataFrame, *, task: str, seed: int = 0) -> Any:
    """An unfitted model for the table `X`: the estimator alone, or Pipeline(preprocessor, estimator)."""
    if not needs_preprocessing(X, family):
        return make_estimator(family, task=task, preprocessed=False, seed=seed)
    estimator = make_estimator(family, task=task, preprocessed=True, seed=seed)
    ordinal = family == "hist_gradient_boosting"
    preprocessor = make_ordinal_preprocessor(X) if ordinal else make_preprocessor(X)
    return Pipeline([("preprocessor", preprocessor), ("model", estimator)])
