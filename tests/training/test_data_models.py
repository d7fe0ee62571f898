"""Training data (default dataset, CSV) and the model families the CLI trains."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from tests.tables import mixed_frame
from training.data import infer_task, load_csv, load_default, split
from training.models import FAMILIES, make_model


def test_the_default_dataset_and_split_are_the_reference_designs() -> None:
    data = load_default()
    assert data.X.shape == (569, 30) and data.class_names == ("malignant", "benign")
    parts = split(data)
    assert len(parts.X_train) == 455 and len(parts.X_test) == 114
    assert parts.X_test.index[0] == 512  # train_test_split(test_size=0.2, random_state=0)
    model = make_model("svc", data.X, task=data.task)
    assert isinstance(model, SVC)
    assert (model.gamma, model.C, model.probability) == (0.001, 100.0, True)


def test_csv_loading(tmp_path: Path) -> None:
    X, y = mixed_frame(60)
    X.assign(bought=y).to_csv(tmp_path / "shop.csv", index=False)
    data = load_csv(tmp_path / "shop.csv", "bought")
    assert data.name == "shop" and data.task == "classification" and data.target == "bought"
    assert list(data.X.columns) == list(X.columns) and data.X["age"].isna().any()
    with pytest.raises(ValueError, match=r"'price'.*columns are"):
        load_csv(tmp_path / "shop.csv", "price")
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_csv(tmp_path / "nope.csv", "bought")


def test_task_inference() -> None:
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series([0, 1, 2, 1])) == "classification"
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "linear"])
def test_every_family_fits_a_mixed_table(family: str) -> None:
    X, y = mixed_frame(120)
    model = make_model(family, X, task="classification")
    assert isinstance(model, Pipeline)  # text columns and gaps: the reference preprocessing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert is_classifier(model) and model.predict_proba(X.iloc[:3]).shape == (3, 2)


def test_regression_families() -> None:
    X, _ = mixed_frame(80)
    assert not is_classifier(make_model("linear", X.drop(columns=["income"]), task="regression"))
    with pytest.raises(ValueError, match="--model linear"):
        make_model("logistic", X, task="regression")
