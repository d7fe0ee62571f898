"""Deriving raw <- engineered feature maps from fitted preprocessors, and folding with them."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from scoring import Level, make_explainer
from scoring.feature_map import FeatureMap, derive_feature_map
from scoring.mapper import ColumnMapper
from tests.tables import CATEGORICAL, NUMERIC, mixed_frame, reference_preprocessor

X, y = mixed_frame()
RAW = list(X.columns)
NUMBERS = X[NUMERIC].fillna(0.0)


def _fit(transformer: Any, data: pd.DataFrame = X) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformer.fit(data, y)


def _width(transformer: Any, data: pd.DataFrame = X) -> int:
    Z = transformer.transform(data)
    return int(Z.shape[1])


MAPPABLE = {
    "reference": lambda: reference_preprocessor(),
    "passthrough_remainder": lambda: ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL), ("drop_age", "drop", ["age"])],
        remainder="passthrough",
    ),
    "dropped_remainder_and_passthrough": lambda: ColumnTransformer(
        [("keep", "passthrough", ["visits"]), ("ord", OrdinalEncoder(), ["plan"])]
    ),
    "mapper": lambda: ColumnMapper(
        [
            (["age"], [SimpleImputer(strategy="median"), StandardScaler()]),
            ("city", OneHotEncoder()),
            (["plan"], OrdinalEncoder()),
        ],
        remainder="passthrough",
    ),
    "indicator_and_bins": lambda: ColumnTransformer(
        [
            ("imp", SimpleImputer(add_indicator=True), ["age", "income"]),
            ("bins", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"), ["visits"]),
            ("log", FunctionTransformer(np.log1p), ["income"]),
        ]
    ),
    "nested_column_transformer": lambda: make_pipeline(
        ColumnTransformer(
            [
                ("num", SimpleImputer(), NUMERIC),
                ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), CATEGORICAL),
            ]
        ),
        StandardScaler(with_mean=False),
        VarianceThreshold(),
    ),
}


@pytest.mark.parametrize("name", sorted(MAPPABLE))
def test_derived_map_matches_the_transform(name: str) -> None:
    pre = _fit(MAPPABLE[name]())
    fmap = derive_feature_map(pre, RAW)
    assert fmap is not None
    assert fmap.matrix.shape == (_width(pre), len(RAW))
    np.testing.assert_allclose(fmap.matrix.sum(axis=1), 1.0)
    assert set(np.unique(fmap.matrix)) <= {0.0, 1.0}  # column-wise: one owner each


def test_one_hot_columns_map_to_their_raw_column() -> None:
    pre = _fit(reference_preprocessor())
    fmap = derive_feature_map(pre, RAW)
    assert fmap is not None
    city = [n for n in fmap.engineered_names if n.startswith("cat__city_")]
    assert len(city) == 4  # lima, oslo, rome, and the imputer's "missing"
    for name in city:
        assert fmap.owners(name) == {"city": 1.0}
    assert fmap.owners("num__age") == {"age": 1.0}
    # one-hot columns of one categorical all sum into it
    j = fmap.raw_names.index("city")
    assert int(fmap.matrix[:, j].sum()) == len(city)


def test_mapper_remainder_and_indicators_are_owned() -> None:
    pre = _fit(MAPPABLE["indicator_and_bins"]())
    fmap = derive_feature_map(pre, RAW)
    assert fmap is not None
    owners = [fmap.owners(n) for n in fmap.engineered_names]
    assert [next(iter(o)) for o in owners] == ["age", "income", "age", "visits", "visits", "visits", "income"]


@pytest.mark.parametrize(
    "pre",
    [
        make_pipeline(SimpleImputer(), PCA(n_components=2)),
        make_pipeline(SimpleImputer(), PolynomialFeatures(degree=2)),
        make_pipeline(SimpleImputer(), Normalizer()),
        make_pipeline(SimpleImputer(), FunctionTransformer(lambda Z: Z[:, :1] * Z[:, 1:2])),
    ],
    ids=["pca", "polynomial", "normalizer", "custom_function"],
)
def test_a_preprocessor_that_mixes_columns_has_no_map(pre: Any) -> None:
    pre = _fit(pre, X[NUMERIC])
    assert derive_feature_map(pre, NUMERIC) is None


def test_pca_inside_a_column_transformer_has_no_map() -> None:
    pre = _fit(ColumnTransformer([("pca", PCA(n_components=2), NUMERIC)]), NUMBERS)
    assert derive_feature_map(pre, NUMERIC) is None


def test_raw_names_must_be_the_fitted_columns() -> None:
    pre = _fit(reference_preprocessor())
    with pytest.raises(ValueError, match="fitted on columns"):
        derive_feature_map(pre, list(reversed(RAW)))


def test_feature_map_checks_its_matrix() -> None:
    with pytest.raises(ValueError, match="fully owned"):
        FeatureMap(("a", "b"), ("x",), np.array([[0.5, 0.4]]))
    with pytest.raises(ValueError, match="shape"):
        FeatureMap(("a",), ("x", "y"), np.ones((1, 1)))
    fmap = FeatureMap(("a", "b"), ("x", "y"), np.array([[1.0, 0.0], [0.5, 0.5]]))
    again = FeatureMap.from_json(fmap.to_json(), fmap.matrix)
    assert again.raw_names == fmap.raw_names and again.engineered_names == fmap.engineered_names
    np.testing.assert_array_equal(again.matrix, fmap.matrix)
    assert again.owners("y") == {"a": 0.5, "b": 0.5}


def test_folding_keeps_additivity_and_row_totals() -> None:
    pre = _fit(reference_preprocessor())
    fmap = derive_feature_map(pre, RAW)
    assert fmap is not None
    Z = np.asarray(pre.transform(X).toarray() if hasattr(pre.transform(X), "toarray") else pre.transform(X))
    clf = LogisticRegression().fit(Z, y)
    engineered = make_explainer(clf, Z, feature_names=list(fmap.engineered_names)).explain(Z[:20])
    raw = engineered.fold(fmap.matrix, fmap.raw_names)
    assert raw.level is Level.RAW and raw.n_features == len(RAW)
    assert engineered.n_features == len(fmap.engineered_names)
    engineered.check_additivity()
    raw.check_additivity()
    np.testing.assert_allclose(raw.values.sum(axis=1), engineered.values.sum(axis=1), atol=1e-10)


def test_feature_union_concatenates_maps() -> None:
    union = FeatureUnion(
        [("scaled", StandardScaler()), ("binned", KBinsDiscretizer(n_bins=2, encode="ordinal"))]
    )
    pre = _fit(union, NUMBERS)
    fmap = derive_feature_map(pre, NUMERIC)
    assert fmap is not None
    assert fmap.matrix.shape == (6, 3)
    np.testing.assert_array_equal(fmap.matrix.argmax(axis=1), [0, 1, 2, 0, 1, 2])
