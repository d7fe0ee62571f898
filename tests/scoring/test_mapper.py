"""ColumnMapper: the sklearn-pandas `[(columns, transformer), ...]` form, natively."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring.bundle import TRUSTED_TYPES
from scoring.mapper import ColumnMapper
from tests.tables import mixed_frame

X, y = mixed_frame()


def _transformations() -> list:
    return [
        (["age"], Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())])),
        (["income"], StandardScaler()),
        (["city"], OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]


def test_transforms_each_column_group_and_names_the_outputs() -> None:
    mapper = ColumnMapper(_transformations()).fit(X)
    Z = mapper.transform(X)
    names = list(mapper.get_feature_names_out())
    assert names[:2] == ["age", "income"]
    assert [n for n in names if n.startswith("city_")] == ["city_lima", "city_oslo", "city_rome", "city_nan"]
    assert Z.shape == (len(X), len(names)) and Z.dtype == float
    expected_income = (X["income"] - X["income"].mean()) / X["income"].std(ddof=0)
    np.testing.assert_allclose(Z[:, 1], expected_income)
    assert mapper.output_indices_ == [slice(0, 1), slice(1, 2), slice(2, 6)]


def test_fitting_fits_the_given_transformers_in_place() -> None:
    transformations = _transformations()
    ColumnMapper(transformations).fit(X)
    assert hasattr(transformations[1][1], "mean_")  # now a list of fitted tuples, as sklearn-pandas left it
    refitted = clone(ColumnMapper(transformations))
    assert not hasattr(refitted.features[1][1], "mean_")  # clone still gives unfitted copies


def test_from_fitted_wraps_fitted_transformers_without_refitting() -> None:
    transformations = _transformations()
    ColumnMapper(transformations).fit(X.iloc[:50])
    mapper = ColumnMapper.from_fitted(transformations, X.columns)
    np.testing.assert_allclose(
        mapper.transform(X), ColumnMapper(transformations).fit(X.iloc[:50]).transform(X)
    )
    with pytest.raises(Exception, match="not fitted"):
        ColumnMapper.from_fitted([(["age"], StandardScaler())], X.columns)


def test_remainder_passthrough_appends_the_other_columns() -> None:
    mapper = ColumnMapper([("income", StandardScaler())], remainder="passthrough").fit(X)
    assert list(mapper.get_feature_names_out()) == ["income", "age", "visits", "city", "plan"]
    Z = mapper.transform(X)
    assert Z.dtype == object and Z.shape == (len(X), 5)
    dropped = ColumnMapper([("income", StandardScaler())]).fit(X)
    assert dropped.transform(X).shape == (len(X), 1)


def test_a_list_of_transformers_is_applied_in_turn() -> None:
    mapper = ColumnMapper([(["age"], [SimpleImputer(strategy="median"), StandardScaler()])]).fit(X)
    Z = mapper.transform(X)
    assert not np.isnan(Z).any()
    np.testing.assert_allclose(Z.mean(), 0.0, atol=1e-12)


def test_errors_name_the_column_and_the_input() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        ColumnMapper([(["nope"], StandardScaler())]).fit(X)
    mapper = ColumnMapper([(["income"], StandardScaler())]).fit(X)
    with pytest.raises(ValueError, match="'income'"):
        mapper.transform(X.drop(columns=["income"]))
    with pytest.raises(TypeError, match="DataFrame"):
        mapper.transform(X.to_numpy())
    with pytest.raises(ValueError, match="remainder"):
        ColumnMapper([], remainder="keep").fit(X)


def test_a_pipeline_with_the_mapper_round_trips_through_skops(tmp_path) -> None:
    import skops.io as sio

    clf = Pipeline([("preprocessor", ColumnMapper(_transformations())), ("classifier", LogisticRegression())])
    clf.fit(X, y)
    sio.dump(clf, tmp_path / "m.skops")
    untrusted = set(sio.get_untrusted_types(file=tmp_path / "m.skops"))
    assert "scoring.mapper.ColumnMapper" in untrusted
    assert untrusted <= set(TRUSTED_TYPES)
    again = sio.load(tmp_path / "m.skops", trusted=sorted(untrusted))
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X))
    assert isinstance(X, pd.DataFrame)
