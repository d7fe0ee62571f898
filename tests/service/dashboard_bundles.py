"""Bundles carrying an evaluation sample, for the dashboard's tests: a pipeline over numbers, an
integer and a category, explained over engineered columns and folded to raw ones (both levels),
with class names ("no", "yes") over raw labels 0 / 1, as the training CLI saves them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring.bundle import Bundle, save_bundle
from scoring.sample import make_sample, omit_sample
from training.package import build_bundle

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
    bundle = build_bundle(
        model,
        X_train,
        X_eval=X_eval,
        y_eval=y_eval,
        class_names=list(CLASS_NAMES),
        target="churn",
        explainer="linear",
        omit_sample="the tests make their own",
        progress=False,
    ).bundle
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
    """Save a sample bundle as a new version of `name` in the current BentoML model store (as
    training stores it); its tag."""
    from training.store import save_to_store

    bundle, X_eval, y_eval = sample_bundle(n_eval=n_eval)
    files = omit_sample(omit) if omit else make_sample(bundle, X_eval, y_eval, max_rows=5000, seed=0)
    return save_to_store(name, bundle, files=files)[0]
