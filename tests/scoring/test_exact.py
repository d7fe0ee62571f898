"""ExactExplainer against brute-force enumeration over its own stored background."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring import ExactExplainer, Method, Space, ValidationError, make_explainer
from tests.scoring.conftest import Problem


@pytest.fixture(scope="module")
def exact(problem: Problem) -> ExactExplainer:
    return ExactExplainer(n_background=8).fit(problem.model, problem.X)


def test_matches_brute_force(problem: Problem, exact: ExactExplainer) -> None:
    truth, base = problem.truth(exact.background_)
    e = exact.explain(problem.rows)
    np.testing.assert_allclose(e.values, truth, rtol=0, atol=1e-9)
    np.testing.assert_allclose(e.base_values, base, rtol=0, atol=1e-9)


def test_outputs_are_the_model_and_additivity_holds(problem: Problem, exact: ExactExplainer) -> None:
    e = exact.explain(problem.rows)
    np.testing.assert_allclose(e.outputs, problem.f(problem.rows), rtol=0, atol=1e-12)
    e.check_additivity(atol=1e-6)
    assert e.method is Method.EXACT
    assert e.stderr is None


def test_background_is_small_and_weighted(problem: Problem, exact: ExactExplainer) -> None:
    bg = exact.background_
    assert bg.rows.shape == (8, problem.n_features)
    assert bg.weights.sum() == pytest.approx(1.0)
    assert (bg.weights > 0).all()


def test_spaces_and_names(multiclass: Problem, regression: Problem) -> None:
    clf = ExactExplainer(n_background=4).fit(multiclass.model, multiclass.X)
    assert clf.space_ is Space.PROBABILITY
    assert clf.output_names_ == ("0", "1", "2")
    reg = ExactExplainer(n_background=4).fit(regression.model, regression.X)
    assert reg.space_ is Space.RAW
    assert reg.output_names_ == ("prediction",)


def test_dataframe_keeps_feature_names(multiclass: Problem) -> None:
    names = [f"f{j}" for j in range(multiclass.n_features)]
    frame = pd.DataFrame(multiclass.X, columns=names)
    # the model was fitted on arrays; a model fitted on the frame sees the same columns
    from sklearn.base import clone

    model = clone(multiclass.model).set_params(max_iter=50)
    with pytest.warns(Warning):  # ConvergenceWarning: a few iterations are enough here
        model.fit(frame, multiclass.model.predict(multiclass.X))
    explainer = make_explainer(model, frame, "exact", n_background=4)
    e = explainer.explain(frame.iloc[:2])
    assert e.feature_names == tuple(names)
    e.check_additivity()


def test_auto_picks_exact_for_few_features(multiclass: Problem) -> None:
    explainer = make_explainer(multiclass.model, multiclass.X, n_background=4)
    assert isinstance(explainer, ExactExplainer)


def test_too_many_features_is_refused() -> None:
    from sklearn.dummy import DummyRegressor

    X = np.zeros((5, 17))
    with pytest.raises(ValidationError, match="M=17"):
        ExactExplainer().fit(DummyRegressor().fit(X, np.zeros(5)), X)


def test_wrong_width_names_what_it_expected(exact: ExactExplainer, problem: Problem) -> None:
    with pytest.raises(ValidationError, match=f"expecting {problem.n_features}"):
        exact.explain(problem.rows[:, :-1])
