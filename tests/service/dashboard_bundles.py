"""Bundles carrying an evaluation sample, for the dashboard's tests: a pipeline over numbers, an
integer and a category, explained over engineered columns and folded to raw ones (both levels),
with class names ("no", "yes") over raw labels 0 / 1, as the training CLI saves them."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring import make_explainer
from scoring.bundle import MANIFEST, Bundle, save_bundle
from scoring.feature_map import FeatureMap
from scoring.sample import make_sample, omit_sample
from scoring.schema import Schema

CLASS_NAMES = ("no", "yes")
SEGMENTS = ("north", "south", "west")


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Six numbers, an integer count and a segment; a binary label that depends on all kinds."""
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, flip_y=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(6)])
    df["visits"] = rng.integers(0, 30, n)
    df["segment"] = pd.Series(rng.choice(SEGMENTS, n), dtype=object)
    # make the extra columns matter a little
    flip = (df["segment"] == "west") & (df["visits"] > 25)
    y = np.where(flip, 1, y)
    return df, y


def sample_bundle(
    n_train: int = 600, n_eval: int = 400, seed: int = 0
) -> tuple[Bundle, pd.DataFrame, np.ndarray]:
    """A fitted bundle and its evaluation rows (not yet sampled)."""
    X, y = frame(n_train + n_eval, seed)
    X_train, y_train, X_eval, y_eval = X.iloc[:n_train], y[:n_train], X.iloc[n_train:], y[n_train:]
    numeric = [c for c in X.columns if c != "segment"]
    pre = ColumnTransformer(
        [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="error"), ["segment"])]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(X_train, y_train)
    Z = np.asarray(model[:-1].transform(X_train), dtype=float)
    engineered = [str(n) for n in model[:-1].get_feature_names_out()]
    raw = list(X.columns)
    matrix = np.zeros((len(engineered), len(raw)))
    for j, name in enumerate(engineered):
        column = name.split("__", 1)[1]
        matrix[j, raw.index(column if column in raw else column.rsplit("_", 1)[0])] = 1.0
    explainer = make_explainer(
        model[-1], Z, "linear", feature_names=engineered, class_names=list(CLASS_NAMES)
    )
    schema = Schema.from_frame(X_train, task="classification", target="churn", classes=CLASS_NAMES)
    bundle = Bundle(
        model=model,
        explainer=explainer,
        schema=schema,
        feature_map=FeatureMap(tuple(raw), tuple(engineered), matrix),
        report={"metrics": {"accuracy": 0.9}, "metrics_on": "evaluation frame"},
    )
    return bundle, X_eval.reset_index(drop=True), y_eval


def save_sample_bundle(
    path: Path, *, n_eval: int = 400, max_rows: int = 5000, omit: str | None = None
) -> tuple[Bundle, Path]:
    """Save a sample bundle (with its sample, or with `omit` as the reason it has none) to `path`."""
    bundle, X_eval, y_eval = sample_bundle(n_eval=n_eval)
    files = omit_sample(omit) if omit else make_sample(bundle, X_eval, y_eval, max_rows=max_rows, seed=0)
    save_bundle(path, bundle, files=files)
    return bundle, path


def store_sample_bundle(name: str, *, n_eval: int = 400, omit: str | None = None) -> str:
    """Save a sample bundle as a new version of `name` in the current BentoML model store; its tag."""
    import bentoml

    with tempfile.TemporaryDirectory(prefix="bundle-") as scratch:
        folder = Path(scratch) / "bundle"
        save_sample_bundle(folder, n_eval=n_eval, omit=omit)
        digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
        with bentoml.models.create(name, metadata={"manifest_sha256": digest}) as model:
            shutil.copytree(folder, model.path, dirs_exist_ok=True)
        return str(model.tag)
