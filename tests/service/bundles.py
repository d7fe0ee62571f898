"""Tiny bundles for the service tests, fitted in seconds and saved to a given BentoML model store
the way the training CLI stores them (bundle files at the top, the manifest's sha256 in metadata)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from scoring.bundle import Bundle
from scoring.explanation import Explanation, Level
from scoring.schema import jsonable

COLORS = ("blue", "green", "red")
YES_NO = ["no", "yes"]


def mixed_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Numbers (one with gaps), an integer count, a colour; three classes."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n),
            "weight": rng.normal(50, 10, n),
            "count": rng.integers(0, 20, n),
            "color": rng.choice(COLORS, n),
        }
    )
    X.loc[rng.random(n) < 0.1, "weight"] = np.nan
    score = X["size"] / 3 + X["count"] / 7 + (X["color"] == "red") * 1.5 + rng.normal(0, 0.5, n)
    y = pd.Series(np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])), name="grade")
    return X, y


def built(model: Any, X: pd.DataFrame, y: Any, *, eval_rows: int = 40, **options: Any) -> Bundle:
    """The bundle of a fitted `model` as the training code builds it (`training.build_bundle`:
    explainer, schema, feature map and report), its metrics and global importance over the first
    `eval_rows` rows. `options` are build_bundle's (explainer, budget, class_names, ...)."""
    from training.package import build_bundle

    return build_bundle(
        model,
        X,
        X_eval=X.iloc[:eval_rows],
        y_eval=np.asarray(y)[:eval_rows],
        omit_sample="a service test bundle",
        progress=False,
        **options,
    ).bundle


def mixed_bundle() -> Bundle:
    """A 3-class pipeline (scale numbers, impute the one with gaps, one-hot colours) with a linear
    explainer over the engineered columns and a feature map back to raw ones: both levels. Only
    `weight` takes a missing value (the model imputes only it)."""
    X, y = mixed_frame()
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["size", "count"]),
            ("gaps", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["weight"]),
            ("cat", OneHotEncoder(handle_unknown="error"), ["color"]),
        ]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(X, y)
    return built(model, X, y, explainer="linear", class_names=["low", "mid", "high"], target="grade")


def svc_bundle() -> Bundle:
    """The reference design's kind of model, small: an SVC with probabilities over 6 numbers,
    explained by the kernel method (sampled: its error is reported)."""
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=1)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is announced for removal
        model = SVC(probability=True, random_state=0).fit(frame, y)
    return built(
        model,
        frame,
        y,
        eval_rows=20,
        explainer="kernel",
        n_background=8,
        budget=48,
        class_names=["no", "yes"],
    )


def amortized_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` rows for `amortized_bundle`: its six numbers, drawn standard normal."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{j}" for j in range(6)])


def amortized_bundle() -> Bundle:
    """The same kind of SVC over 6 numbers, explained by the amortized method at small settings
    (its fidelity measured at fit time, and auditable)."""
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=1)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = SVC(probability=True, random_state=0).fit(frame, y)
    return built(
        model,
        frame,
        y,
        eval_rows=20,
        explainer="amortized",
        fit_evaluations=60_000,
        class_names=["no", "yes"],
    )


def logistic_bundle(n_features: int = 8) -> Bundle:
    """A fast bundle: logistic regression on numbers, exact linear explainer (for load tests)."""
    X, y = make_classification(
        n_samples=300, n_features=n_features, n_informative=min(5, n_features), n_redundant=0, random_state=2
    )
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(n_features)])
    model = LogisticRegression(max_iter=500).fit(frame, y)
    return built(model, frame, y, explainer="linear")


def regression_bundle() -> Bundle:
    X, y = make_regression(n_samples=200, n_features=5, random_state=3)
    frame = pd.DataFrame(X, columns=[f"r{j}" for j in range(5)])
    model = GradientBoostingRegressor(n_estimators=20, max_depth=2, random_state=0).fit(frame, y)
    return built(model, frame, y, explainer="tree", target="price")


BUILDERS: dict[str, Callable[[], Bundle]] = {
    "mixed": mixed_bundle,
    "svc": svc_bundle,
    "amortized": amortized_bundle,
    "logistic": logistic_bundle,
    "regression": regression_bundle,
}


def store_bundle(name: str, bundle: Bundle) -> str:
    """Save `bundle` as a new version of model `name` in the current BentoML model store, as
    training stores it (the manifest's sha256 in the metadata); its tag."""
    from training.store import save_to_store

    return save_to_store(name, bundle)[0]


def reference(bundle: Bundle, rows: list[dict[str, Any]], level: str = "raw") -> Explanation:
    """What the Python API says for the same rows."""
    return bundle.explain(bundle.schema.validate(rows), Level(level))


def rows_of(X: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as JSON-ready objects (NaN as null, numpy scalars as Python values)."""
    return [jsonable(record) for record in X.to_dict(orient="records")]
