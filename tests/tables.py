"""Small mixed tables and the reference design's preprocessing, shared by scoring and training tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def mixed_frame(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Two numbers (one with gaps), an integer, two categories (one with gaps); a binary label."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(),
            "income": rng.lognormal(10, 0.5, n),
            "visits": rng.integers(0, 9, n),
            "city": rng.choice(["oslo", "rome", "lima"], n).astype(object),
            "plan": rng.choice(["free", "pro"], n),
        }
    )
    logit = 0.05 * (X["age"] - 40) + 0.4 * X["visits"] - 1.5 + (X["plan"] == "pro") * 1.2
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), name="bought")
    X.loc[rng.random(n) < 0.1, "age"] = np.nan
    X.loc[rng.random(n) < 0.1, "city"] = None
    return X, y


NUMERIC = ["age", "income", "visits"]
CATEGORICAL = ["city", "plan"]


def reference_preprocessor() -> ColumnTransformer:
    numbers = Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())])
    categories = Pipeline(
        [
            ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    return ColumnTransformer([("num", numbers, NUMERIC), ("cat", categories, CATEGORICAL)])


def user_table(n: int = 20_000, *, n_numbers: int = 4, seed: int = 0) -> pd.DataFrame:
    """A user's own table, as a CSV would hold it: numbers with gaps, an integer count, two text
    categories (one with gaps), a boolean-like text flag and a binary text label `churned`
    (with a few missing labels when asked through `with_missing_labels`)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"num_{j}": rng.normal(j, 1 + j, n) for j in range(n_numbers)})
    frame["calls"] = rng.integers(0, 12, n)
    frame["region"] = rng.choice(["north", "south", "east", "west"], n).astype(object)
    frame["plan"] = rng.choice(["basic", "plus", "premium"], n, p=[0.5, 0.3, 0.2]).astype(object)
    logit = 0.6 * frame["num_0"] - 0.2 * frame["num_1"] + 0.25 * frame["calls"] - 1.5
    logit = logit + (frame["plan"] == "premium") * 1.0 - (frame["region"] == "west") * 0.8
    frame["churned"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    for column, share in (("num_0", 0.08), ("num_2", 0.15), ("region", 0.05)):
        frame.loc[rng.random(n) < share, column] = None
    return frame


def colour_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Four normal numbers and a four-category colour; a binary label with interactions."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(4)})
    X["colour"] = rng.choice(["red", "green", "blue", "grey"], n)
    score = X.x0 + (X.colour == "red") * 1.5 - X.x1 * (X.colour == "blue") + 0.5 * X.x2 * X.x3
    return X, (score > 0.3).astype(int)


def colour_mlp() -> Pipeline:
    """An unfitted MLP over `colour_table`'s columns, the colour one-hot encoded (8 engineered
    columns; an unseen colour is ignored by the encoder)."""
    from sklearn.neural_network import MLPClassifier

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["x0", "x1", "x2", "x3"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
        ]
    )
    return Pipeline(
        [("pre", pre), ("mlp", MLPClassifier(hidden_layer_sizes=(16,), max_iter=600, random_state=0))]
    )
