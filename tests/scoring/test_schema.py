"""The raw feature schema: inferred from the training frame and the model, and every kind of bad
input refused with the row and field named."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring import ValidationError
from scoring.pipeline import accepted_inputs
from scoring.schema import Kind, Schema
from tests.tables import CATEGORICAL, NUMERIC, mixed_frame, reference_preprocessor

X, y = mixed_frame()


def _fit(model: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


PIPELINE = _fit(Pipeline([("preprocessor", reference_preprocessor()), ("classifier", LogisticRegression())]))
NULLABLE, UNSEEN = accepted_inputs(PIPELINE, list(X.columns))
SCHEMA = Schema.from_frame(
    X, task="classification", classes=["no", "yes"], nullable=NULLABLE, accepts_unseen=UNSEEN
)


def _row(**changes: Any) -> dict[str, Any]:
    row = {"age": 41.0, "income": 25000.0, "visits": 3, "city": "oslo", "plan": "pro"}
    row.update(changes)
    return row


def _refused(rows: list[dict[str, Any]], *, row: int, field: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        SCHEMA.validate(rows)
    err = caught.value
    assert (err.row, err.field) == (row, field)
    assert f"row {row}" in str(err) and f"'{field}'" in str(err)
    return err


def test_kinds_ranges_and_categories_come_from_the_frame() -> None:
    features = {f.name: f for f in SCHEMA.features}
    assert SCHEMA.names == tuple(X.columns)
    assert features["age"].kind is Kind.NUMBER and features["visits"].kind is Kind.INTEGER
    assert features["city"].kind is Kind.CATEGORY and features["city"].categories == ("lima", "oslo", "rome")
    assert features["income"].minimum == pytest.approx(X["income"].min())
    assert features["visits"].maximum == X["visits"].max()


def test_a_numeric_column_is_nullable_when_the_pipeline_imputes_it() -> None:
    # every column of the reference pipeline starts with an imputer
    assert NULLABLE == list(X.columns)
    assert all(f.nullable for f in SCHEMA.features)
    # without one, a complete column is not nullable
    scaler_only = _fit(
        Pipeline(
            [
                ("pre", ColumnTransformer([("num", StandardScaler(), ["income", "visits"])])),
                ("clf", LogisticRegression()),
            ]
        )
    )
    nullable, _ = accepted_inputs(scaler_only, list(X.columns))
    assert "income" not in nullable and "visits" not in nullable
    assert {"age", "city", "plan"} <= set(nullable)  # dropped by the transformer: never used


def test_an_estimator_that_takes_nan_makes_its_raw_columns_nullable() -> None:
    model = HistGradientBoostingClassifier(max_iter=5).fit(X[NUMERIC], y)
    nullable, _ = accepted_inputs(model, NUMERIC)
    assert nullable == NUMERIC


def test_a_category_accepts_unseen_values_only_when_the_one_hot_ignores_them() -> None:
    assert set(UNSEEN) == set(CATEGORICAL)
    strict = _fit(
        Pipeline(
            [
                ("pre", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), ["plan"])])),
                ("clf", LogisticRegression()),
            ]
        )
    )
    assert accepted_inputs(strict, list(X.columns))[1] == ["age", "income", "visits", "city"]  # dropped ones


def test_valid_rows_become_a_typed_frame_in_model_order() -> None:
    rows = [_row(), {**_row(age=None, city=None), "plan": "free"}, _row(city="paris")]
    frame = SCHEMA.validate([dict(reversed(list(r.items()))) for r in rows])
    assert list(frame.columns) == list(X.columns)
    assert math.isnan(frame.loc[1, "age"]) and frame.loc[2, "city"] == "paris"
    assert PIPELINE.predict_proba(frame).shape == (3, 2)


STRICT = Schema.from_frame(X[["income", "plan"]], task="classification")  # nothing nullable


def _strict_refused(rows: list[dict[str, Any]], *, row: int, field: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        STRICT.validate(rows)
    assert (caught.value.row, caught.value.field) == (row, field)
    return caught.value


def test_missing_feature() -> None:
    _strict_refused([{"income": 1.0, "plan": "pro"}, {"plan": "pro"}], row=1, field="income")


def test_nullable_features_take_nan_null_and_omission_as_missing() -> None:
    """What `json.dumps(df.to_dict("records"))` sends for a pandas gap (NaN), null, or no key."""
    row = _row()
    del row["income"]
    frame = SCHEMA.validate([_row(age=float("nan")), _row(age=None, city=float("nan")), row])
    assert frame["age"].isna().tolist() == [True, True, False]
    assert frame["income"].isna().tolist() == [False, False, True]
    assert frame["city"].isna().tolist() == [False, True, False]
    _strict_refused([{"income": 1.0, "plan": float("nan")}], row=0, field="plan")


def test_unknown_feature() -> None:
    _refused([_row(), _row(), _row(colour="red")], row=2, field="colour")


@pytest.mark.parametrize("value", ["abc", "41", [1], {"a": 1}, True])
def test_mistyped_number(value: Any) -> None:
    err = _refused([_row(income=value)], row=0, field="income")
    assert "number" in str(err)


def test_mistyped_integer() -> None:
    _refused([_row(visits=2.5)], row=0, field="visits")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_number(value: float) -> None:
    err = _strict_refused(
        [{"income": 1.0, "plan": "pro"}, {"income": value, "plan": "pro"}], row=1, field="income"
    )
    assert "finite" in str(err)
    if not math.isnan(value):  # infinity is refused where NaN would be a missing value
        assert "finite" in str(_refused([_row(), _row(income=value)], row=1, field="income"))


def test_null_where_not_nullable() -> None:
    strict = Schema.from_frame(X[["income", "plan"]], task="classification")
    with pytest.raises(ValidationError) as caught:
        strict.validate([{"income": 1.0, "plan": "pro"}, {"income": None, "plan": "pro"}])
    assert (caught.value.row, caught.value.field) == (1, "income")
    assert "null" in str(caught.value)


def test_unseen_category_where_the_model_cannot_take_it() -> None:
    strict = Schema.from_frame(X[["income", "plan"]], task="classification")
    with pytest.raises(ValidationError) as caught:
        strict.validate([{"income": 1.0, "plan": "enterprise"}])
    assert (caught.value.row, caught.value.field) == (0, "plan")
    assert "unseen" in str(caught.value) and "'enterprise'" in str(caught.value)


def test_an_unseen_category_of_another_type_is_refused_even_when_unseen_is_accepted() -> None:
    _refused([_row(city=3)], row=0, field="city")


def test_json_round_trip() -> None:
    again = Schema.from_json(SCHEMA.to_json())
    assert again == SCHEMA
    assert again.validate([_row()]).equals(SCHEMA.validate([_row()]))
    assert np.asarray(SCHEMA.classes).tolist() == ["no", "yes"]
