"""What training saw, and the flags of rows outside it: numeric ranges per column, unseen
categories from the raw schema, both folded to raw features by a bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring.bundle import Bundle
from scoring.explainers import make_explainer
from scoring.explanation import Level
from scoring.feature_map import derive_feature_map
from scoring.schema import Schema
from scoring.support import Support, outside_schema


def test_support_flags_and_clips_values_beyond_the_range() -> None:
    X = np.array([[0.0, 10.0], [1.0, 20.0], [0.5, 15.0]])
    support = Support.of(X)
    rows = np.array([[0.5, 15.0], [-1.0, 15.0], [0.5, 21.0], [np.nan, 10.0]])
    np.testing.assert_array_equal(
        support.outside(rows), [[False, False], [True, False], [False, True], [False, False]]
    )
    np.testing.assert_array_equal(support.clip(rows[:3]), [[0.5, 15.0], [0.0, 15.0], [0.5, 20.0]])
    again = Support.from_arrays(support.to_arrays())
    assert again is not None and np.array_equal(again.upper, support.upper)
    assert Support.from_arrays({}) is None  # state saved before supports existed


def test_a_categorical_column_is_not_range_checked() -> None:
    X = np.array([[1.0, "a"], [2.0, "b"]], dtype=object)
    support = Support.of(X)
    assert np.isnan(support.lower[1])
    flags = support.outside(np.array([[3.0, "zzz"]], dtype=object))
    assert flags.tolist() == [[True, False]]


def _frame(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"size": rng.normal(10, 3, n), "colour": rng.choice(["red", "blue"], n)})
    y = pd.Series((X["size"] + 2 * (X["colour"] == "red") > 11).astype(int))
    return X, y


def test_a_bundle_flags_raw_values_outside_training_at_both_levels() -> None:
    X, y = _frame()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["size"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"])]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(X, y)
    Z = np.asarray(model[:-1].transform(X), dtype=float)
    feature_map = derive_feature_map(model[:-1], list(X.columns))
    assert feature_map is not None
    explainer = make_explainer(model[-1], Z, "linear", feature_names=list(feature_map.engineered_names))
    schema = Schema.from_frame(X, task="classification", classes=[0, 1], accepts_unseen=["colour"])
    bundle = Bundle(model=model, explainer=explainer, schema=schema, feature_map=feature_map)
    rows = pd.DataFrame({"size": [10.0, 99.0, 10.0], "colour": ["red", "red", "green"]})
    np.testing.assert_array_equal(
        outside_schema(schema, rows), [[False, False], [True, False], [False, True]]
    )
    raw = bundle.explain(rows, Level.RAW)
    assert [raw.outside_names(i) for i in range(3)] == [[], ["size"], ["colour"]]
    assert raw.outside_lists() == [[], ["size"], ["colour"]]
    engineered = bundle.explain(rows, Level.ENGINEERED)
    assert engineered.outside_lists() == [engineered.outside_names(i) for i in range(3)]
    assert engineered.outside_names(0) == []
    assert engineered.outside_names(2) == [n for n in feature_map.engineered_names if "colour" in n]
    raw.check_additivity()
