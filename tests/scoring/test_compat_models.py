"""TabularExplainer's lazy fit and its progress bar, and every kind of model the reference
accepted that is not a plain scikit-learn estimator: prediction functions, plain objects whose
predict / predict_proba give lists or pandas objects, frames with integer column labels (the
model gets the frame back), LightGBM and XGBoost models.

Ground truth: the exact Shapley values over the reference's background (every coalition is
enumerated for these few features, so a black box's values are the closed form of a linear
model over that background), shap's TreeExplainer for the tree ensembles, additivity.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC

from scoring.compat import MimicExplainer, PFIExplainer, TabularExplainer
from scoring.compat.surrogates import LinearExplainableModel
from tests.scoring.ground_truth import shapley_table
from tests.scoring.test_compat_reference import ListModel  # lists from predict and predict_proba


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(1).permutation(len(y))
    train, test = order[:120], order[120:128]
    return X[train], y[train], X[test]


@pytest.fixture(scope="module")
def regression():
    """60 rows (fewer than the reference's 100-row summary threshold: all are the background)."""
    X, y = make_regression(n_samples=60, n_features=3, noise=0.5, random_state=3)
    return X, y, LinearRegression().fit(X, y)


def closed_form(model, X, background):
    """A linear regressor's exact interventional Shapley values over a uniform background."""
    return (X - background.mean(axis=0)) * model.coef_


class Counting:
    """A plain object (no scikit-learn base, no tags) that counts the rows it is asked about."""

    def __init__(self, model):
        self.model = model
        self.rows = 0

    def predict(self, X):
        self.rows += len(X)
        return self.model.predict(X)

    def predict_proba(self, X):
        self.rows += len(X)
        return self.model.predict_proba(X)


# -- point 5: construction is cheap, the fit happens on first use, with a progress bar -----------
@pytest.mark.parametrize("method", ["auto", "exact"])
def test_the_fit_waits_for_first_use_and_shows_a_progress_bar(iris, capsys, method):
    X, y, X_test = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True), deprecated in sklearn 1.9
        model = Counting(SVC(probability=True, random_state=0).fit(X, y))
    explainer = TabularExplainer(model, X, method=method)
    constructed = capsys.readouterr().err
    assert "TabularExplainer" not in constructed
    assert model.rows <= 2  # at most the two-row probe that tells a classifier from a regressor

    explanation = explainer.explain_local(X_test[:2])
    bar = capsys.readouterr().err  # tqdm writes its bar to stderr
    expected = "kernel" if method == "auto" else "exact"
    assert f"TabularExplainer: fitting the {expected} explainer" in bar
    assert "2/2" in bar  # both steps: the background, then the explainer's own fit
    assert model.rows > 2  # the fit (and the explanation) called the model
    assert explanation.method == f"shap.{expected}"

    explainer.explain_local(X_test[2:4])
    assert "TabularExplainer" not in capsys.readouterr().err  # fitted once, not again


# -- models that are not scikit-learn estimators -----------------------------------------------------
class SeriesRegressor:
    """predict gives a pandas Series; no scikit-learn base."""

    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return pd.Series(self.model.predict(X), name="y")


class ListRegressor:
    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return [float(v) for v in self.model.predict(X)]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda m: (SeriesRegressor(m), False), id="predict-gives-a-series"),
        pytest.param(lambda m: (ListRegressor(m), False), id="predict-gives-a-list"),
        pytest.param(lambda m: (lambda X: m.predict(X).tolist(), True), id="function-gives-a-list"),
        pytest.param(lambda m: (lambda X: m.predict(X)[:, None], True), id="function-gives-a-column"),
    ],
)
def test_black_box_regressors_give_the_closed_form(regression, make):
    X, _, linear = regression
    model, is_function = make(linear)
    explanation = TabularExplainer(model, X, is_function=is_function).explain_local(X[:5])
    values = np.array(explanation.local_importance_values)
    assert explanation.method == "shap.kernel" and values.shape == (5, 3)
    assert np.allclose(values, closed_form(linear, X[:5], X), atol=1e-8)
    assert np.allclose(values.sum(axis=1) + explanation.expected_values, linear.predict(X[:5]))


def test_a_plain_classifier_object_explains_its_probabilities(iris):
    X, y, X_test = iris
    logistic = LogisticRegression(max_iter=500).fit(X, y)
    explanation = TabularExplainer(ListModel(logistic), X, classes=["a", "b", "c"]).explain_local(X_test)
    values = np.array(explanation.local_importance_values)  # (K, n, M)
    assert explanation.method == "shap.kernel" and values.shape == (3, 8, 4)
    # additivity on the object's own probabilities
    proba = logistic.predict_proba(X_test)
    assert np.allclose(values.sum(axis=2).T + explanation.expected_values, proba, atol=1e-8)
    # and the values are the exact Shapley values over the reference's background (shap.kmeans, 10)
    summary = shap.kmeans(X, 10)
    truth, _ = shapley_table(logistic.predict_proba, X_test, summary.data, summary.weights)
    assert np.allclose(values, np.moveaxis(truth, 2, 0), atol=1e-6)
    assert np.array(explanation.eval_y_predicted).tolist() == logistic.predict(X_test).tolist()


# -- integer column labels: a model that reads the frame gets the frame --------------------------------
class FrameReader:
    """Reads its inputs by integer column label, as a model fitted on such a frame does."""

    def __init__(self, coef):
        self.coef = coef
        self.seen: list[type] = []

    def predict(self, X):
        self.seen.append(type(X))
        return sum(c * X[j].to_numpy(dtype=float) for j, c in self.coef.items())


def test_integer_column_labels_reach_a_frame_reading_model_as_a_frame(regression):
    X, _, _ = regression
    frame = pd.DataFrame(X, columns=[10, 20, 30])
    model = FrameReader({10: 2.0, 30: -1.0})
    explanation = TabularExplainer(model, frame).explain_local(frame.iloc[:4])
    values = np.array(explanation.local_importance_values)
    assert set(model.seen) == {pd.DataFrame}
    assert explanation.features == [10, 20, 30]
    expected = (X[:4] - X.mean(axis=0)) * np.array([2.0, 0.0, -1.0])
    assert np.allclose(values, expected, atol=1e-8)
    ranked = explanation.get_ranked_local_names()
    assert all(isinstance(name, int) for row in ranked for name in row)

    # the other explainers hand it the frame too
    model.seen.clear()
    mimic = MimicExplainer(model, frame, LinearExplainableModel, augment_data=False)
    assert set(model.seen) == {pd.DataFrame} and mimic.fidelity_ > 0.99
    model.seen.clear()
    pfi = PFIExplainer(model).explain_global(frame, true_labels=model.predict(frame))
    assert set(model.seen) == {pd.DataFrame}
    assert pfi.get_ranked_global_names()[-1] == 20  # the column the model never reads


def test_a_function_on_integer_labels_gets_the_frame(regression):
    X, _, _ = regression
    frame = pd.DataFrame(X, columns=[0, 1, 2])
    explanation = TabularExplainer(lambda F: 3.0 * F[1].to_numpy(), frame, is_function=True).explain_local(
        frame.iloc[:3]
    )
    values = np.array(explanation.local_importance_values)
    assert np.allclose(values[:, 1], 3.0 * (X[:3, 1] - X[:, 1].mean())) and np.allclose(values[:, [0, 2]], 0)


# -- LightGBM and XGBoost: TreeSHAP, equal to shap's ------------------------------------------------------
def _tree_models():
    models = []
    for module, classifier, regressor, kwargs in [
        ("lightgbm", "LGBMClassifier", "LGBMRegressor", {"n_estimators": 20, "verbose": -1}),
        ("xgboost", "XGBClassifier", "XGBRegressor", {"n_estimators": 20}),
    ]:
        lib = pytest.importorskip(module)
        models.append(pytest.param(getattr(lib, classifier), kwargs, True, id=classifier))
        models.append(pytest.param(getattr(lib, regressor), kwargs, False, id=regressor))
    return models


@pytest.mark.parametrize(("cls", "kwargs", "classifies"), _tree_models())
def test_lightgbm_and_xgboost_models_are_explained_by_treeshap(iris, cls, kwargs, classifies):
    X, y, X_test = iris
    model = cls(**kwargs).fit(X, y if classifies else y.astype(float) + X[:, 0])
    explanation = TabularExplainer(model, X).explain_local(X_test)
    values = np.array(explanation.local_importance_values)
    truth = np.asarray(shap.TreeExplainer(model).shap_values(X_test))
    truth = np.moveaxis(truth, 2, 0) if truth.ndim == 3 else truth  # (K, n, M), the reference's layout
    assert explanation.method == "shap.tree"
    assert values.shape == truth.shape and np.allclose(values, truth, atol=1e-5)
    # additivity in the model's margin space
    margin = (
        model.predict(X_test, raw_score=True)
        if "LGBM" in cls.__name__
        else model.predict(X_test, output_margin=True)
    )
    total = values.sum(axis=-1) + np.asarray(explanation.expected_values).reshape(-1, 1)
    assert np.allclose(total.T if classifies else total[0], margin, atol=1e-4)
