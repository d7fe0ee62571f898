"""Tiny bundles for the service tests, fitted in seconds and saved to a given BentoML model store
the way the training CLI stores them (bundle files at the top, the manifest's sha256 in metadata)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
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

from scoring import make_explainer
from scoring.bundle import MANIFEST, Bundle, save_bundle
from scoring.explanation import Explanation, Level
from scoring.feature_map import FeatureMap
from scoring.schema import Schema

COLORS = ("blue", "green", "red")


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


def mixed_bundle() -> Bundle:
    """A 3-class pipeline (impute + scale numbers, one-hot colours) with a linear explainer over the
    engineered columns and a feature map back to raw ones: both levels."""
    X, y = mixed_frame()
    numeric = ["size", "weight", "count"]
    pre = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), numeric),
            ("cat", OneHotEncoder(handle_unknown="error"), ["color"]),
        ]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(X, y)
    Z = np.asarray(model[:-1].transform(X), dtype=float)
    engineered = [str(n) for n in model[:-1].get_feature_names_out()]
    raw = list(X.columns)
    matrix = np.zeros((len(engineered), len(raw)))
    for j, name in enumerate(engineered):
        column = name.split("__", 1)[1]
        owner = column if column in raw else column.rsplit("_", 1)[0]
        matrix[j, raw.index(owner)] = 1.0
    feature_map = FeatureMap(tuple(raw), tuple(engineered), matrix)
    class_names = ["low", "mid", "high"]
    explainer = make_explainer(model[-1], Z, "linear", feature_names=engineered, class_names=class_names)
    schema = Schema.from_frame(
        X, task="classification", target="grade", classes=class_names, nullable=["weight"]
    )
    bundle = Bundle(model=model, explainer=explainer, schema=schema, feature_map=feature_map)
    bundle.report = report_for(bundle, X.iloc[:40])
    return bundle


def svc_bundle() -> Bundle:
    """The reference design's kind of model, small: an SVC with probabilities over 6 numbers,
    explained by the kernel method (sampled: its error is reported)."""
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=1)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is announced for removal
        model = SVC(probability=True, random_state=0).fit(frame, y)
    explainer = make_explainer(model, frame, "kernel", n_background=8, budget=48, class_names=["no", "yes"])
    schema = Schema.from_frame(frame, task="classification", classes=["no", "yes"])
    bundle = Bundle(model=model, explainer=explainer, schema=schema)
    bundle.report = report_for(bundle, frame.iloc[:20])
    return bundle


def amortized_bundle() -> Bundle:
    """The same kind of SVC over 6 numbers, explained by the amortized method at small settings
    (its fidelity measured at fit time, and auditable)."""
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=1)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = SVC(probability=True, random_state=0).fit(frame, y)
    explainer = make_explainer(model, frame, "amortized", fit_evaluations=60_000, class_names=["no", "yes"])
    schema = Schema.from_frame(frame, task="classification", classes=["no", "yes"])
    bundle = Bundle(model=model, explainer=explainer, schema=schema)
    bundle.report = report_for(bundle, frame.iloc[:20])
    return bundle


def logistic_bundle(n_features: int = 8) -> Bundle:
    """A fast bundle: logistic regression on numbers, exact linear explainer (for load tests)."""
    X, y = make_classification(
        n_samples=300, n_features=n_features, n_informative=min(5, n_features), n_redundant=0, random_state=2
    )
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(n_features)])
    model = LogisticRegression(max_iter=500).fit(frame, y)
    explainer = make_explainer(model, frame, "linear")
    schema = Schema.from_frame(frame, task="classification", classes=[str(c) for c in model.classes_])
    return Bundle(model=model, explainer=explainer, schema=schema, report={})


def regression_bundle() -> Bundle:
    X, y = make_regression(n_samples=200, n_features=5, random_state=3)
    frame = pd.DataFrame(X, columns=[f"r{j}" for j in range(5)])
    model = GradientBoostingRegressor(n_estimators=20, max_depth=2, random_state=0).fit(frame, y)
    explainer = make_explainer(model, frame, "tree")
    schema = Schema.from_frame(frame, task="regression", target="price")
    return Bundle(model=model, explainer=explainer, schema=schema, report={})


def report_for(bundle: Bundle, X: pd.DataFrame) -> dict[str, Any]:
    """The parts of the training report the service reads, shaped as `training.report` writes them."""
    importance = {}
    for level in bundle.levels:
        e = bundle.explain(X, level)
        per_output = np.abs(e.values).mean(axis=0)
        importance[str(level)] = {
            "rows": e.n_rows,
            "space": str(e.space),
            "feature_names": list(e.feature_names),
            "output_names": list(e.output_names),
            "mean_abs": per_output.tolist(),
            "mean_abs_overall": per_output.mean(axis=1).tolist(),
        }
    return {
        "metrics": {"accuracy": 0.9},
        "metrics_on": "evaluation frame",
        "global_importance": importance,
        "global_importance_rows": "training rows",
        "fidelity": {"method": str(bundle.explainer.method), "exact": False, "median_relative_l2": 0.05},
        "explainer": {"method": str(bundle.explainer.method), "explains": "the model"},
    }


BUILDERS: dict[str, Callable[[], Bundle]] = {
    "mixed": mixed_bundle,
    "svc": svc_bundle,
    "amortized": amortized_bundle,
    "logistic": logistic_bundle,
    "regression": regression_bundle,
}


def store_bundle(name: str, bundle: Bundle) -> str:
    """Save `bundle` as a new version of model `name` in the current BentoML model store; its tag."""
    import bentoml

    with tempfile.TemporaryDirectory(prefix="bundle-") as scratch:
        folder = Path(scratch) / "bundle"
        save_bundle(folder, bundle)
        digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
        with bentoml.models.create(name, metadata={"manifest_sha256": digest}) as model:
            shutil.copytree(folder, model.path, dirs_exist_ok=True)
        return str(model.tag)


def reference(bundle: Bundle, rows: list[dict[str, Any]], level: str = "raw") -> Explanation:
    """What the Python API says for the same rows."""
    return bundle.explain(bundle.schema.validate(rows), Level(level))


def rows_of(X: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as JSON-ready objects (NaN as null, numpy scalars as Python values)."""
    out = []
    for record in X.to_dict(orient="records"):
        out.append(
            {k: (None if isinstance(v, float) and np.isnan(v) else _plain(v)) for k, v in record.items()}
        )
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
