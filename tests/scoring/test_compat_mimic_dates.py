"""MimicExplainer's frames as the reference handled them: `reset_index` (the index levels as the
surrogate's last features, the teacher still given its frame), date and datetime columns turned
into the reference's numbers (seconds since the earliest training value, plus year, month, day,
hour, minute, second), string `categorical_features` as codes; the derived columns folded back
onto the column they came from.

Ground truth: the derived columns computed here by hand, shap's TreeExplainer on the fitted
surrogate for the values before folding, additivity on the surrogate's outputs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import shap

from scoring.compat import LGBMExplainableModel, MimicExplainer
from scoring.compat.featurize import SurrogateFeatures
from scoring.errors import ValidationError

N = 360


@pytest.fixture(scope="module")
def series():
    """A monthly series indexed by date: the target moves with the year and with column 'a'."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=N), "b": rng.normal(size=N)})
    frame["when"] = pd.date_range("1990-01-01", periods=N, freq="MS")
    return frame.set_index("when")


class YearModel:
    """A time-series model: reads the year from the frame's index, checks the frame is as fitted."""

    def __init__(self, sample: pd.DataFrame):
        self.columns, self.dtypes = list(sample.columns), list(sample.dtypes)
        self.index_names = list(sample.index.names)

    def predict(self, X):
        assert isinstance(X, pd.DataFrame) and list(X.columns) == self.columns
        assert list(X.dtypes) == self.dtypes and list(X.index.names) == self.index_names
        return 2.0 * X["a"].to_numpy() + 0.5 * (X.index.year.to_numpy() - 2005)


def test_reset_makes_the_index_the_last_features_and_the_teacher_keeps_its_frame(series):
    model = YearModel(series)
    train, test = series.iloc[:300], series.iloc[300:]
    features = [*series.columns, "when"]
    common = {"augment_data": False, "explainable_model_args": {"n_estimators": 200}}
    reset = MimicExplainer(
        model, train, LGBMExplainableModel, features=features, reset_index="reset", **common
    )
    explanation = reset.explain_global(test)
    assert explanation.features == features
    assert np.array(explanation.local_importance_values).shape == (len(test), 3)
    assert set(explanation.get_ranked_global_names()[:2]) == {"when", "a"}
    importance = explanation.get_feature_importance_dict()
    assert importance["b"] < 0.1 * min(importance["a"], importance["when"])  # the model never reads 'b'
    # True is the reference tests' spelling of 'reset'
    same = MimicExplainer(model, train, LGBMExplainableModel, features=features, reset_index=True, **common)
    assert np.allclose(
        same.explain_global(test).global_importance_values, explanation.global_importance_values
    )

    # 'reset_teacher': the teacher gets the index, the surrogate only the columns
    teacher_only = MimicExplainer(model, train, LGBMExplainableModel, reset_index="reset_teacher", **common)
    assert teacher_only.explain_global(test).features == ["a", "b"]
    assert reset.fidelity_ > 0.9 > teacher_only.fidelity_ + 0.2  # the year is what it cannot see
    # 'ignore' (the default) drops the index before the teacher sees the rows: this model refuses
    with pytest.raises(AssertionError):  # the model checks its index
        MimicExplainer(model, train, LGBMExplainableModel, **common)
    with pytest.raises(ValidationError, match="reset_index"):
        MimicExplainer(model, train, LGBMExplainableModel, reset_index="sometimes", **common)


def test_date_columns_become_the_reference_numbers():
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0],
            "t": pd.to_datetime(["2020-03-15 12:30:45", "2020-01-01 00:00:00", "2021-07-04 23:59:59"]),
            "day": [dt.date(2001, 5, 6), dt.date(2001, 5, 1), dt.date(2002, 1, 31)],
        }
    )
    features = SurrogateFeatures.fit(frame, reset=False, categorical_features=None)
    derived = features.transform(frame)
    parts = ["year", "month", "day", "hour", "minute", "second"]
    assert list(derived.columns) == [
        "x",
        "t",
        "day",
        *[f"t_{p}" for p in parts],
        *[f"day_{p}" for p in parts],
    ]
    earliest = dt.datetime(2020, 1, 1)
    assert derived["t"].tolist() == [
        (dt.datetime(2020, 3, 15, 12, 30, 45) - earliest).total_seconds(),
        0.0,
        (dt.datetime(2021, 7, 4, 23, 59, 59) - earliest).total_seconds(),
    ]
    assert derived[[f"t_{p}" for p in parts]].iloc[0].tolist() == [2020, 3, 15, 12, 30, 45]
    assert derived["day"].tolist() == [
        5 * 86400.0,
        0.0,
        (dt.date(2002, 1, 31) - dt.date(2001, 5, 1)).days * 86400.0,
    ]
    assert derived[[f"day_{p}" for p in parts]].iloc[2].tolist() == [2002, 1, 31, 0, 0, 0]
    # later rows are measured from the training rows' earliest value, not their own
    later = features.transform(frame.iloc[[2]])
    assert later["t"].tolist() == [derived["t"].iloc[2]]
    # each derived column is owned by the column it came from
    owner = features.matrix.argmax(axis=1)
    assert owner.tolist() == [0, 1, 2] + [1] * 6 + [2] * 6 and np.allclose(features.matrix.sum(axis=1), 1)


def test_derived_date_columns_fold_back_onto_the_date():
    rng = np.random.default_rng(1)
    days = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, N), unit="D")
    frame = pd.DataFrame({"a": rng.normal(size=N), "d": days})

    class SeasonModel:
        def predict(self, X):
            return X["a"].to_numpy() + np.sin(X["d"].dt.month.to_numpy() / 12 * 2 * np.pi)

    explainer = MimicExplainer(SeasonModel(), frame, LGBMExplainableModel, augment_data=False)
    rows = frame.iloc[:6]
    explanation = explainer.explain_local(rows)
    values = np.array(explanation.local_importance_values)
    assert explanation.features == ["a", "d"] and values.shape == (6, 2)

    # the surrogate's inputs, built here by hand: a, seconds since the earliest day, then its parts
    # (the surrogate is trained on the rows not held out; their earliest day is the origin)
    origin = explainer.surrogate_features_.time_columns[0][1]
    assert origin >= (frame["d"].min() - pd.Timestamp("1970-01-01")).total_seconds()
    seconds = (rows["d"] - pd.Timestamp("1970-01-01")).dt.total_seconds() - origin
    parts = [getattr(rows["d"].dt, p) for p in ("year", "month", "day", "hour", "minute", "second")]
    derived = np.column_stack([rows["a"], seconds, *parts]).astype(float)
    truth = shap.TreeExplainer(explainer.surrogate_model.model).shap_values(derived)
    assert np.allclose(values[:, 0], truth[:, 0], atol=1e-6)
    assert np.allclose(values[:, 1], truth[:, 1:].sum(axis=1), atol=1e-6)
    surrogate = explainer.surrogate_model.predict(derived)
    assert np.allclose(values.sum(axis=1) + explanation.expected_values, surrogate, atol=1e-6)
    assert explainer.fidelity_ > 0.8


def test_string_categorical_features_are_coded_for_the_surrogate():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=N), "fruit": rng.choice(["apple", "grape", "pear"], N)})
    effect = {"apple": -1.0, "grape": 0.0, "pear": 2.0}

    class FruitModel:
        def predict(self, X):
            return X["x"].to_numpy() + np.array([effect.get(f, 5.0) for f in X["fruit"]])

    model = FruitModel()
    with pytest.raises(ValidationError, match="numeric"):  # not declared categorical: refused
        MimicExplainer(model, frame, LGBMExplainableModel, augment_data=False)
    explainer = MimicExplainer(
        model, frame, LGBMExplainableModel, augment_data=False, categorical_features=["fruit"]
    )
    assert explainer.fidelity_ > 0.95
    explanation = explainer.explain_global(frame)
    assert explanation.get_ranked_global_names()[0] == "fruit"
    # a fruit not seen in training goes to the unknown bucket and is still explained
    unseen = pd.DataFrame({"x": [0.0], "fruit": ["kiwi"]})
    values = np.array(explainer.explain_local(unseen).local_importance_values)
    assert values.shape == (1, 2) and np.isfinite(values).all()


def test_a_multi_index_of_dates_and_grains_as_the_reference_tests_build_it():
    """Columns with a date among them, an index of (time, fruit, store): reset, with the string
    grain declared categorical; the teacher reads the index, the surrogate sees all five."""
    parts = []
    for fruit in ("apple", "grape"):
        for store in (100, 200, 50):
            part = pd.DataFrame(
                {
                    "time": pd.date_range("2000-01-01", periods=40, freq="D"),
                    "universal_answer": 42,
                    "orderdate": pd.date_range("1992-08-01", periods=40, freq="D"),
                    "fruit": fruit,
                    "store": store,
                }
            )
            parts.append(part)
    X = pd.concat(parts).set_index(["time", "fruit", "store"])

    class GrainModel(YearModel):
        def predict(self, X):
            assert list(X.index.names) == self.index_names and list(X.columns) == self.columns
            assert list(X.dtypes) == self.dtypes
            fruit = (X.index.get_level_values("fruit") == "grape").astype(float)
            return 3.0 * fruit + X["orderdate"].dt.day.to_numpy() / 10.0

    features = [*X.columns, *X.index.names]
    explainer = MimicExplainer(
        GrainModel(X),
        X,
        LGBMExplainableModel,
        features=features,
        reset_index=True,
        categorical_features=["fruit"],
        augment_data=False,
        explainable_model_args={"n_jobs": 1},
    )
    explanation = explainer.explain_global(X)
    assert explanation.features == features
    assert np.array(explanation.local_importance_values).shape == (len(X), 5)
    assert explanation.get_ranked_global_names()[0] in {"fruit", "orderdate"}
    assert explanation.get_feature_importance_dict()["universal_answer"] == 0.0  # a constant
    assert explainer.fidelity_ > 0.9
