"""A mixed numeric/categorical table through the reference design's preprocessing, explained at
both levels: engineered (one value per one-hot column) and raw (one value per column).

The table is generated here (customers who stay or churn), so nothing is downloaded. The same
model is built twice: with a ColumnTransformer, and with a list of fitted `(columns, transformer)`
tuples (the sklearn-pandas form, here through `scoring.mapper.ColumnMapper`).

Run from the repository root:

    python -m examples.mixed_table            # both bundles, and an explanation at both levels
    python -m examples.mixed_table --build    # then build the Bento as well
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import training
from scoring import Level
from scoring.mapper import ColumnMapper

numeric_features = ["age", "monthly_charges", "tenure_months", "support_calls"]
categorical_features = ["plan", "contract", "region"]
classes = ["stays", "churns"]


def make_table(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Customers: numbers (some ages missing), categories (some regions missing), and whether
    they churned, drawn from a known logistic model."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(45, 14, n).clip(18, 90).round(),
            "monthly_charges": rng.gamma(4.0, 15.0, n).round(2),
            "tenure_months": rng.integers(1, 72, n),
            "support_calls": rng.poisson(1.5, n),
            "plan": rng.choice(["basic", "plus", "premium"], n, p=[0.5, 0.3, 0.2]),
            "contract": rng.choice(["monthly", "yearly", "two_year"], n, p=[0.55, 0.3, 0.15]),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    logit = (
        -0.8
        + 0.02 * (X["monthly_charges"] - 60)
        - 0.04 * (X["tenure_months"] - 36)
        + 0.45 * X["support_calls"]
        + X["contract"].map({"monthly": 0.9, "yearly": -0.4, "two_year": -1.2})
        + X["plan"].map({"basic": 0.3, "plus": 0.0, "premium": -0.3})
    )
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), name="churned")
    X.loc[rng.random(n) < 0.05, "age"] = np.nan
    X["region"] = X["region"].astype(object)
    X.loc[rng.random(n) < 0.05, "region"] = None
    return X, y


def with_column_transformer(x_train: pd.DataFrame, y_train: pd.Series) -> Pipeline:
    """The reference design's pipeline, verbatim apart from the data."""
    numeric_transformer = Pipeline(
        steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    categorical_transformer = Pipeline(
        steps=[
            ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    preprocessor = ColumnTransformer(
        transformers=[
            ("num", numeric_transformer, numeric_features),
            ("cat", categorical_transformer, categorical_features),
        ]
    )
    clf = Pipeline(steps=[("preprocessor", preprocessor), ("classifier", LogisticRegression(solver="lbfgs"))])
    return clf.fit(x_train, y_train)


def with_transformer_tuples(x_train: pd.DataFrame, y_train: pd.Series) -> tuple[Pipeline, list]:
    """The same model from a list of `(columns, transformer)` tuples; fitting the mapper fits
    the tuples' transformers, as sklearn-pandas' DataFrameMapper did."""
    numeric_transformations = [
        ([f], Pipeline(steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]))
        for f in numeric_features
    ]
    categorical_transformations = [
        ([f], OneHotEncoder(handle_unknown="ignore", sparse_output=False)) for f in categorical_features
    ]
    transformations = numeric_transformations + categorical_transformations
    clf = Pipeline(
        steps=[
            ("preprocessor", ColumnMapper(transformations)),
            ("classifier", LogisticRegression(solver="lbfgs")),
        ]
    )
    return clf.fit(x_train, y_train), transformations


def main(argv: list[str] | None = None) -> dict[str, training.SavedBundle]:
    parser = argparse.ArgumentParser(prog="python -m examples.mixed_table")
    parser.add_argument("--build", action="store_true", help="build the Bento afterwards")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    X, y = make_table()
    x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    common = {"X_eval": x_test, "y_eval": y_test, "class_names": classes, "target": "churned"}
    saved = {}

    # 1. a fitted Pipeline(ColumnTransformer, LogisticRegression), passed whole
    model = with_column_transformer(x_train, y_train)
    saved["churn_logistic"] = training.save_model(
        "churn_logistic", model, x_train, progress=not args.quiet, **common
    )

    # 2. the estimator plus the fitted transformer tuples (the reference design's
    #    `TabularExplainer(clf.steps[-1][1], x_train, transformations=transformations)`)
    clf, transformations = with_transformer_tuples(x_train, y_train)
    saved["churn_mapper"] = training.save_model(
        "churn_mapper",
        clf.steps[-1][1],
        x_train,
        transformations=transformations,
        progress=not args.quiet,
        **common,
    )

    for result in saved.values():
        report = result.report
        print(
            f"saved {result.tag}: {report.explainer.method} explainer, levels "
            f"{'+'.join(report.explainer.levels)}, accuracy {report.metrics['accuracy']:.3f}"
        )

    # explanations at both levels, from the bundle as the service loads it
    bundle = training.load_from_store(saved["churn_logistic"].tag)
    rows = x_test.iloc[:1]
    raw = bundle.explain(rows, Level.RAW)
    engineered = bundle.explain(rows, Level.ENGINEERED)
    print(f"raw level, {raw.n_features} values (one per column):")
    for feature, value in raw.ranked(0, output="churns"):
        print(f"  {feature:>16} {value:+.3f}")
    print(f"engineered level, {engineered.n_features} values (one per one-hot column), e.g.:")
    for feature, value in engineered.ranked(0, output="churns")[:5]:
        print(f"  {feature:>24} {value:+.3f}")
    total_raw, total_engineered = raw.values[0, :, 1].sum(), engineered.values[0, :, 1].sum()
    print(f"both add up to the same log-odds change: {total_raw:+.4f} = {total_engineered:+.4f}")

    if args.build:
        print("bento:", training.build_bento(saved["churn_logistic"].tag))
    return saved


if __name__ == "__main__":
    main()
