"""`auto` counts raw columns: a black-box pipeline whose one-hot encoding widens 7 raw columns to
more than 10 engineered ones is explained exactly over the 7 raw columns."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring import Level
from training.package import build_bundle


def _table(n: int = 160, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.normal(size=n),
            "d": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue", "grey"], n),
            "size": rng.choice(["s", "m", "l", "xl"], n),
            "shape": rng.choice(["round", "square", "flat"], n),
        }
    )
    y = pd.Series(((X["a"] + (X["colour"] == "red") - X["b"] * (X["size"] == "xl")) > 0).astype(int))
    return X, y


def test_auto_picks_exact_over_the_raw_columns() -> None:
    X, y = _table()
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["a", "b", "c", "d"]),
            ("cat", OneHotEncoder(), ["colour", "size", "shape"]),
        ]
    )
    model = Pipeline(
        [("pre", pre), ("mlp", MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0))]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert model[:-1].transform(X.iloc[:1]).shape[1] == 4 + 4 + 4 + 3  # 15 engineered columns
    built = build_bundle(model, X, progress=False, fidelity_rows=4, n_background=8, max_explain_rows=40)
    bundle, report = built.bundle, built.report
    assert bundle.explainer.method == "exact"
    assert bundle.feature_map is None and bundle.levels == (Level.RAW,)
    reason = str(report.explainer.reason)
    assert report.explainer.explains == "the whole pipeline over raw columns"
    assert "7 raw" in reason and "15 engineered" in reason
    e = bundle.explain(X.iloc[:3])
    assert e.feature_names == tuple(X.columns)
    e.check_additivity(atol=1e-9)
    assert bundle.explainer.masks_.shape[0] == 2**7  # every coalition of the raw columns
