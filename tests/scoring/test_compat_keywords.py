"""The reference's keywords with their meaning, for the parts the other compat tests leave out:
PFIExplainer's (every reference PFI test failed on its first keyword), TabularExplainer's
`nclusters`, the surrogates' method names and `surrogate_model.model`, and the raw-feature
importances of an explanation.

Ground truth: for a linear model scored by squared error against its own predictions,
shuffling column j costs 2 c_j² Var(x_j) on average (exactly 0 for a column it never reads);
brute-force Shapley values over `shap.kmeans(X, nclusters)`; sums by the feature map by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import mean_squared_error
from sklearn.tree import DecisionTreeRegressor

from scoring.compat import (
    DecisionTreeExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    MimicExplainer,
    PFIExplainer,
    SGDExplainableModel,
    TabularExplainer,
)
from tests.scoring.ground_truth import shapley_table

COEF = np.array([3.0, 0.0, -1.5, 0.5])


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 4)) * np.array([1.0, 2.0, 0.5, 3.0])
    return X, X @ COEF


def test_pfi_keywords_mean_what_they_meant(linear, capsys):
    X, y = linear
    explainer = PFIExplainer(
        lambda rows: rows @ COEF,
        is_function=True,
        metric=mean_squared_error,
        is_error_metric=True,
        explain_subset=[0, 1, 2],
        features=["a", "b", "c", "d"],
        model_task="regression",
        seed=1,
        show_progress=False,
        n_repeats=3,
    )
    explanation = explainer.explain_global(X, true_labels=y)
    assert capsys.readouterr().err == ""  # show_progress=False: no bar
    assert explanation.features == ["a", "b", "c"] and explanation.metric == "mean_squared_error"
    importance = explanation.get_feature_importance_dict()
    expected = 2 * COEF[:3] ** 2 * X[:, :3].var(axis=0)
    assert importance["b"] == 0.0  # never read: shuffling it changes nothing
    assert importance["a"] == pytest.approx(expected[0], rel=0.1)
    assert importance["c"] == pytest.approx(expected[2], rel=0.1)
    assert explanation.get_ranked_global_names() == ["a", "c", "b"]

    # the same function read as a score (is_error_metric=False): a rising error is a falling score
    as_score = PFIExplainer(
        lambda rows: rows @ COEF, is_function=True, metric=mean_squared_error, show_progress=True
    ).explain_global(X, true_labels=y)
    assert "PFIExplainer" in capsys.readouterr().err  # show_progress=True (the default): a bar
    assert np.array(as_score.global_importance_values)[0] < 0 < importance["a"]


def test_pfi_metric_args_reach_the_metric(linear):
    X, y = linear
    model = LinearRegression().fit(X, y)

    def scaled_error(truth, predicted, *, scale):
        return scale * mean_squared_error(truth, predicted)

    def importances(scale):
        explainer = PFIExplainer(
            model, metric=scaled_error, metric_args={"scale": scale}, is_error_metric=True
        )
        return np.array(explainer.explain_global(X[:500], true_labels=y[:500]).global_importance_values)

    assert np.allclose(importances(10.0), 10.0 * importances(1.0))  # same seed, same shuffles
    with pytest.raises(TypeError):  # passed on as it is: an argument the metric lacks is its error
        PFIExplainer(model, metric="mean_squared_error", metric_args={"no_such": 1}).explain_global(
            X, true_labels=y
        )


def test_nclusters_sizes_the_reference_background():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    wrapped = type("Plain", (), {"predict_proba": lambda self, rows: model.predict_proba(rows)})()
    explanation = TabularExplainer(wrapped, X, nclusters=4).explain_local(X[:5])
    summary = shap.kmeans(X, 4)
    truth, base = shapley_table(model.predict_proba, X[:5], summary.data, summary.weights)
    assert explanation.method == "shap.kernel"
    assert np.allclose(np.array(explanation.local_importance_values), np.moveaxis(truth, 2, 0), atol=1e-6)
    assert np.allclose(explanation.expected_values, base, atol=1e-9)


@pytest.mark.parametrize(
    ("family", "name", "estimator"),
    [
        (LGBMExplainableModel, "mimic.lightgbm", "LGBMRegressor"),
        (LinearExplainableModel, "mimic.linear", LinearRegression),
        # fitted by SGD on standardized columns, then stated over the original columns
        (SGDExplainableModel, "mimic.sgd", LinearRegression),
        (DecisionTreeExplainableModel, "mimic.tree", DecisionTreeRegressor),
    ],
)
def test_surrogates_report_the_reference_method_names(linear, family, name, estimator):
    X, y = linear
    model = LinearRegression().fit(X[:400], y[:400])
    explainer = MimicExplainer(model, X[:400], family, augment_data=False)
    assert explainer.explain_global(X[:50]).method == name
    inner = explainer.surrogate_model.model
    assert type(inner).__name__ == estimator if isinstance(estimator, str) else isinstance(inner, estimator)
    assert np.allclose(inner.predict(X[:50]), explainer.surrogate_model.predict(X[:50]))
    assert explainer.fidelity_ > 0.9


def test_raw_feature_importances_sum_engineered_values_by_the_map():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    global_explanation = TabularExplainer(model, X).explain_global(X[:20])
    local = TabularExplainer(model, X).explain_local(X[:20])
    # raw 0 owns engineered 0 and 1; raw 1 owns 2 and 3
    feature_map = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    engineered = np.array(global_explanation.global_importance_values)
    assert global_explanation.get_raw_feature_importances([feature_map]) == pytest.approx(
        (feature_map @ engineered).tolist()
    )
    values = np.array(local.local_importance_values)  # (K, n, M)
    raw = np.array(local.get_raw_feature_importances([feature_map]))
    assert raw.shape == (3, 20, 2) and np.allclose(raw, values @ feature_map.T)


def test_sparse_data_gives_the_linear_surrogate_an_l1_fit(linear):
    """LinearExplainableModel(sparse_data=True) is the reference's Lasso regressor."""
    from sklearn.linear_model import Lasso

    X, y = linear
    model = LinearRegression().fit(X[:400], y[:400])
    args = {"sparse_data": True, "alpha": 0.5}
    explainer = MimicExplainer(model, X[:400], LinearExplainableModel, explainable_model_args=args)
    inner = explainer.surrogate_model.model
    assert isinstance(inner, Lasso) and inner.alpha == 0.5
    assert inner.coef_[1] == 0.0  # the column the model never reads: L1 sets it to exactly zero
    explanation = explainer.explain_local(X[:5])
    values = np.array(explanation.local_importance_values)
    assert np.allclose(values.sum(axis=1) + explanation.expected_values, inner.predict(X[:5]))


def test_tabular_shap_values_output_probability_explains_probabilities():
    """A linear classifier is explained in log-odds by default; 'probability' asks for its
    probabilities, which only KernelSHAP gives: exact Shapley values of predict_proba."""
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    assert TabularExplainer(model, X).explain_local(X[:3]).method == "shap.linear"
    explanation = TabularExplainer(model, X, shap_values_output="probability").explain_local(X[:3])
    assert explanation.method == "shap.kernel"
    values = np.array(explanation.local_importance_values)
    summary = shap.kmeans(X, 10)
    truth, _ = shapley_table(model.predict_proba, X[:3], summary.data, summary.weights)
    assert np.allclose(values, np.moveaxis(truth, 2, 0), atol=1e-6)
    assert np.allclose(values.sum(axis=2).T + explanation.expected_values, model.predict_proba(X[:3]))
