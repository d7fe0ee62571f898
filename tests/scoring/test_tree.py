"""TreeExplainer equals shap's TreeExplainer (and the libraries' own TreeSHAP) on the same model."""

from __future__ import annotations

import warnings
from typing import Any

import lightgbm
import numpy as np
import pytest
import shap
import xgboost
from scipy.special import expit
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)

from scoring import Method, Space, TreeExplainer, UnsupportedModelError, make_explainer
from tests.scoring.ground_truth import shapley_table

M = 8


def _classification(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=300, n_features=M, n_informative=5, n_classes=n_classes, random_state=n_classes
    )


def _fit(name: str) -> tuple[Any, np.ndarray]:
    if name == "sklearn-gbc-binary":
        X, y = _classification(2)
        return GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(X, y), X
    if name == "sklearn-rf-multiclass":
        X, y = _classification(3)
        return RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(X, y), X
    if name == "sklearn-gb-regressor":
        X, y = make_regression(n_samples=300, n_features=M, noise=1.0, random_state=0)
        return GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, y), X
    if name == "lightgbm-multiclass":
        X, y = _classification(3)
        params = {"n_estimators": 30, "num_leaves": 8, "min_child_samples": 5, "verbose": -1, "n_jobs": 1}
        return lightgbm.LGBMClassifier(**params, random_state=0).fit(X, y), X
    if name == "lightgbm-regressor":
        X, y = make_regression(n_samples=300, n_features=M, noise=1.0, random_state=1)
        params = {"n_estimators": 30, "num_leaves": 8, "min_child_samples": 5, "verbose": -1, "n_jobs": 1}
        return lightgbm.LGBMRegressor(**params, random_state=0).fit(X, y), X
    if name == "xgboost-binary":
        X, y = _classification(2)
        return xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, random_state=0).fit(X, y), X
    if name.startswith("hgb-"):
        return _fit_hgb(name)
    raise AssertionError(name)


def _with_gaps(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """A fifth of two columns' values missing (NaN), as histogram gradient boosting takes them."""
    X = X.copy()
    gaps = np.random.default_rng(seed).random((X.shape[0], 2)) < 0.2
    X[:, :2][gaps] = np.nan
    return X


def _fit_hgb(name: str) -> tuple[Any, np.ndarray]:
    params = {"max_iter": 30, "max_leaf_nodes": 8, "random_state": 0}
    if name == "hgb-regressor-nan":
        X, y = make_regression(n_samples=300, n_features=M, noise=1.0, random_state=2)
        X = _with_gaps(X)
        return HistGradientBoostingRegressor(**params).fit(X, y), X
    X, y = _classification(2 if name == "hgb-binary-nan" else 3)
    X = _with_gaps(X)
    return HistGradientBoostingClassifier(**params).fit(X, y), X


MODELS = [
    "sklearn-gbc-binary",
    "sklearn-rf-multiclass",
    "sklearn-gb-regressor",
    "lightgbm-multiclass",
    "lightgbm-regressor",
    "xgboost-binary",
    "hgb-binary-nan",
    "hgb-multiclass-nan",
    "hgb-regressor-nan",
]


@pytest.fixture(scope="module", params=MODELS)
def fitted(request: pytest.FixtureRequest) -> tuple[str, Any, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, X = _fit(request.param)
    return request.param, model, X


def _additivity_tolerance(name: str) -> float:
    """XGBoost computes margins and contributions in float32: |margin| ~ 5 leaves ~1e-6 of rounding."""
    return 1e-5 if name.startswith("xgboost") else 1e-6


def _as_k(values: np.ndarray, k: int) -> np.ndarray:
    """shap's values as (n, M, K): one column for a binary model is class 1; class 0 negates it."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.shape[-1] == 1 and k == 2:
        values = np.concatenate([-values, values], axis=-1)
    return values


def test_equals_shap_tree_explainer(fitted: tuple[str, Any, np.ndarray]) -> None:
    name, model, X = fitted
    rows = X[:20]
    e = TreeExplainer().fit(model, X).explain(rows)
    reference = shap.TreeExplainer(model)
    expected = _as_k(reference.shap_values(rows), e.n_outputs)
    np.testing.assert_allclose(e.values, expected, rtol=0, atol=1e-9)
    base = _as_k(np.atleast_1d(reference.expected_value)[None, None, :], e.n_outputs)[0, 0]
    np.testing.assert_allclose(e.base_values, base, rtol=0, atol=1e-9)
    e.check_additivity(atol=_additivity_tolerance(name))
    assert e.method is Method.TREE


def test_single_row_equals_the_batch(fitted: tuple[str, Any, np.ndarray]) -> None:
    name, model, X = fitted
    explainer = TreeExplainer().fit(model, X)
    batch = explainer.explain(X[:5])
    for i in range(5):
        one = explainer.explain(X[i])
        np.testing.assert_allclose(one.values[0], batch.values[i], rtol=0, atol=1e-12)
        one.check_additivity(atol=_additivity_tolerance(name))


@pytest.mark.parametrize("name", ["hgb-binary-nan", "hgb-multiclass-nan", "hgb-regressor-nan"])
def test_hgb_outputs_are_the_models_own_margin_on_rows_with_gaps(name: str) -> None:
    """TreeSHAP of histogram gradient boosting adds up to the model's own decision function (or
    prediction) on rows with missing values: NaN follows the trees' learned missing direction."""
    model, X = _fit_hgb(name)
    rows = X[np.isnan(X).any(axis=1)][:30]
    assert len(rows) == 30
    e = make_explainer(model, X).explain(rows)
    assert e.method is Method.TREE and np.isfinite(e.values).all()
    margin = model.decision_function(rows) if hasattr(model, "decision_function") else model.predict(rows)
    margin = np.asarray(margin, dtype=float).reshape(len(rows), -1)
    if e.n_outputs == 2 and margin.shape[1] == 1:
        margin = np.concatenate([-margin, margin], axis=1)
    np.testing.assert_allclose(e.outputs, margin, rtol=0, atol=1e-9)
    e.check_additivity(atol=1e-9)


def test_lightgbm_pred_contrib_agrees() -> None:
    model, X = _fit("lightgbm-multiclass")
    e = TreeExplainer().fit(model, X).explain(X[:10])
    contrib = model.predict(X[:10], pred_contrib=True).reshape(10, 3, M + 1)
    np.testing.assert_allclose(e.values, contrib[:, :, :M].transpose(0, 2, 1), rtol=0, atol=1e-6)


def test_xgboost_pred_contribs_agrees() -> None:
    model, X = _fit("xgboost-binary")
    e = TreeExplainer().fit(model, X).explain(X[:10])
    contrib = model.get_booster().predict(xgboost.DMatrix(X[:10]), pred_contribs=True)
    np.testing.assert_allclose(e.values[:, :, 1], contrib[:, :M], rtol=0, atol=1e-5)


def test_margin_spaces() -> None:
    spaces = {}
    for name in ("sklearn-gbc-binary", "sklearn-rf-multiclass", "sklearn-gb-regressor"):
        model, X = _fit(name)
        spaces[name] = TreeExplainer().fit(model, X).space_
    assert spaces == {
        "sklearn-gbc-binary": Space.LOG_ODDS,
        "sklearn-rf-multiclass": Space.PROBABILITY,
        "sklearn-gb-regressor": Space.RAW,
    }


def test_auto_picks_tree() -> None:
    model, X = _fit("xgboost-binary")
    assert isinstance(make_explainer(model, X), TreeExplainer)


def test_probability_output_is_shaps_rescaled_interventional_treeshap() -> None:
    """Probabilities of a boosted model: shap's interventional TreeSHAP over the stored background.

    For a link (here the logistic), shap does not compute the Shapley values of the probability:
    for each background row b it rescales the margin's exact values so they add up to
    sigmoid(f(x)) - sigmoid(f(b)), then averages over b. The ground truth below is that
    definition, by brute force. shap's tree code takes no weights, so the weighted background
    goes in as rows repeated in proportion to their weight, rounded: hence 5e-3, not 1e-9.
    """
    model, X = _fit("sklearn-gbc-binary")
    explainer = TreeExplainer(output="probability", n_background=10).fit(model, X)
    assert explainer.space_ is Space.PROBABILITY
    rows = X[:3]
    e = explainer.explain(rows)
    e.check_additivity(atol=1e-6)
    np.testing.assert_allclose(e.outputs, model.predict_proba(rows), rtol=0, atol=1e-9)
    bg = explainer.background_
    assert bg is not None

    def margin(Z: np.ndarray) -> np.ndarray:
        return model.decision_function(Z)[:, None]

    truth = np.zeros((len(rows), M))
    for b, w in zip(bg.rows, bg.weights, strict=True):
        phi, _ = shapley_table(margin, rows, b[None, :], np.ones(1))
        fx, fb = margin(rows)[:, 0], margin(b[None, :])[0, 0]
        same = np.isclose(fx, fb, rtol=0, atol=1e-12)  # the limit: the logistic's slope
        slope = expit(fx) * (1 - expit(fx))
        scale = np.where(same, slope, (expit(fx) - expit(fb)) / np.where(same, 1.0, fx - fb))
        truth += w * phi[:, :, 0] * scale[:, None]
    np.testing.assert_allclose(e.values[:, :, 1], truth, rtol=0, atol=5e-3)
    np.testing.assert_allclose(e.values[:, :, 0], -truth, rtol=0, atol=5e-3)
    np.testing.assert_allclose(e.base_values, bg.weights @ model.predict_proba(bg.rows), atol=5e-3)


def test_multiclass_gradient_boosting_is_not_a_tree_model() -> None:
    """shap's TreeSHAP refuses it; `auto` must pick a model-agnostic method instead."""
    X, y = _classification(3)
    model = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="GradientBoostingClassifier"):
        TreeExplainer().fit(model, X)
    assert not isinstance(make_explainer(model, X, n_background=4), TreeExplainer)
