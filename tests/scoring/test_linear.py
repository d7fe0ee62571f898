"""LinearExplainer: the closed form, and brute force over the whole fitting set as background."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from scoring import LinearExplainer, Method, Space, UnsupportedModelError
from tests.scoring.ground_truth import shapley_table


def _binary() -> tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=1)
    model = LogisticRegression().fit(X, y)

    def f(Z: np.ndarray) -> np.ndarray:
        d = model.decision_function(Z)
        return np.stack([-d, d], axis=1)

    return model, X, f


def _multinomial() -> tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    X, y = make_classification(
        n_samples=200, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=2
    )
    model = LogisticRegression().fit(X, y)
    return model, X, model.decision_function


def _ridge() -> tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    X, y = make_regression(n_samples=200, n_features=5, noise=0.5, random_state=3)
    model = Ridge(alpha=1.0).fit(X, y)
    return model, X, lambda Z: model.predict(Z)[:, None]


CASES = {"binary": _binary, "multinomial": _multinomial, "ridge": _ridge}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    return CASES[request.param]()


def test_equals_the_closed_form(case: tuple[Any, np.ndarray, Any]) -> None:
    model, X, f = case
    explainer = LinearExplainer().fit(model, X)
    rows = X[:7]
    e = explainer.explain(rows)
    coef = np.atleast_2d(model.coef_)
    intercept = np.atleast_1d(model.intercept_)
    if coef.shape[0] == 1 and len(getattr(model, "classes_", [])) == 2:
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    mean = X.mean(axis=0)
    for i, x in enumerate(rows):
        for k in range(coef.shape[0]):
            for j in range(X.shape[1]):
                assert e.values[i, j, k] == pytest.approx(coef[k, j] * (x[j] - mean[j]), abs=1e-12)
    np.testing.assert_allclose(e.base_values, coef @ mean + intercept, rtol=0, atol=1e-12)
    np.testing.assert_allclose(e.outputs, f(rows), rtol=0, atol=1e-9)
    e.check_additivity(atol=1e-9)


def test_equals_brute_force_over_the_fitting_rows(case: tuple[Any, np.ndarray, Any]) -> None:
    """Interventional Shapley values of the margin, every fitting row as equal-weight background."""
    model, X, f = case
    e = LinearExplainer().fit(model, X).explain(X[:2])
    truth, base = shapley_table(f, X[:2], X, np.full(len(X), 1 / len(X)))
    np.testing.assert_allclose(e.values, truth, rtol=0, atol=1e-9)
    np.testing.assert_allclose(e.base_values, base, rtol=0, atol=1e-9)


def test_space_method_and_names() -> None:
    model, X, _ = _binary()
    explainer = LinearExplainer().fit(model, X, class_names=["no", "yes"])
    e = explainer.explain(X[:1])
    assert e.space is Space.LOG_ODDS and e.method is Method.LINEAR
    assert e.output_names == ("no", "yes")
    np.testing.assert_allclose(e.values[..., 0], -e.values[..., 1])
    ridge, Xr, _ = _ridge()
    assert LinearExplainer().fit(ridge, Xr).space_ is Space.RAW


def test_single_row_as_a_vector() -> None:
    model, X, _ = _ridge()
    e = LinearExplainer().fit(model, X).explain(X[0])
    assert e.values.shape == (1, 5, 1)


def test_non_linear_model_is_refused() -> None:
    X, y = make_classification(n_samples=50, n_features=4, random_state=0)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="RandomForestClassifier"):
        LinearExplainer().fit(forest, X)


def test_sgd_regressor_is_linear_and_exact() -> None:
    from sklearn.linear_model import PoissonRegressor, SGDRegressor

    from scoring.explainers import choose_method
    from scoring.explanation import Method

    X, y = make_regression(200, 4, random_state=0)
    model = SGDRegressor(random_state=0).fit(X, y)
    assert choose_method(model, 4) is Method.LINEAR
    explanation = LinearExplainer().fit(model, X).explain(X[:5])
    np.testing.assert_allclose(explanation.outputs[:, 0], model.predict(X[:5]), atol=1e-8)
    # a GLM has a link function: not linear in its output
    glm = PoissonRegressor().fit(X, np.abs(y))
    assert choose_method(glm, 4) is not Method.LINEAR
