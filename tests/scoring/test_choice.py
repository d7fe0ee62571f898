"""`auto` for a black box with many features: amortized when it measures within tolerance of
kernel on held-out rows, else kernel, and the reason says which figures decided; the candidates
are measured outside the explainer classes (scoring.selection); an option a method does not take
is an error naming both."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from scoring import Method, ScoringError
from scoring.errors import ParameterError
from scoring.explainers import EXACT_MAX_FEATURES, AmortizedExplainer, KernelExplainer, choose_explainer
from scoring.fidelity import fidelity_figures

QUICK = {"fit_evaluations": 40_000, "budget": 64, "n_background": 8}


@pytest.fixture(scope="module")
def wide() -> tuple[MLPClassifier, np.ndarray]:
    """An MLP over 12 features: too many to enumerate, so `auto` compares amortized and kernel."""
    X, y = make_classification(n_samples=160, n_features=12, n_informative=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(X, y)
    return model, X


def test_amortized_is_kept_when_within_tolerance(wide: tuple[MLPClassifier, np.ndarray]) -> None:
    model, X = wide
    assert X.shape[1] > EXACT_MAX_FEATURES
    choice = choose_explainer(model, X, tolerance=10.0, **QUICK)
    assert choice.explainer.method is Method.AMORTIZED
    assert choice.measured is not None and "within tolerance" in choice.reason
    figures = choice.measured
    assert f"{figures['amortized']['median_rel_l2']:.3f}" in choice.reason
    assert f"{figures['kernel']['median_rel_l2']:.3f}" in choice.reason
    # the kernel it was measured against is the one that would be served
    assert figures["kernel"]["params"]["budget"] == 64 and figures["kernel"]["params"]["n_background"] == 8


def test_kernel_is_fitted_when_amortized_is_not_within_tolerance(
    wide: tuple[MLPClassifier, np.ndarray],
) -> None:
    model, X = wide
    choice = choose_explainer(model, X, tolerance=-10.0, **QUICK)
    assert choice.explainer.method is Method.KERNEL
    assert choice.explainer.get_params()["budget"] == 64
    assert "not within tolerance" in choice.reason and choice.measured is not None
    choice.explainer.explain(X[:3]).check_additivity(atol=1e-6)
    # the served kernel is the candidate measured: its values on the held-out rows give the figures
    assert isinstance(choice.explainer, KernelExplainer)
    held = choice.measured["kernel"]
    assert held["params"] == choice.explainer.get_params() and held["seconds_per_row"] > 0


def test_candidates_are_measured_on_the_same_held_out_rows(wide: tuple[MLPClassifier, np.ndarray]) -> None:
    model, X = wide
    choice = choose_explainer(model, X, tolerance=10.0, **QUICK)
    amortized = choice.explainer
    assert isinstance(amortized, AmortizedExplainer) and choice.measured is not None
    assert amortized.heldout_ is not None and "kernel" not in amortized.fidelity_
    kernel = KernelExplainer(**choice.measured["kernel"]["params"]).fit(model, X)
    again = fidelity_figures(kernel.explain(amortized.heldout_.rows).values, amortized.heldout_.reference)
    assert again["median_rel_l2"] == pytest.approx(choice.measured["kernel"]["median_rel_l2"], rel=1e-9)
    assert again["rows"] == choice.measured["amortized"]["rows"] == len(amortized.heldout_.rows)
    ours = choice.measured["amortized"]
    assert ours["median_rel_l2"] == amortized.fidelity_["amortized"]["median_rel_l2"]
    assert 0 < ours["seconds_per_row"] < choice.measured["kernel"]["seconds_per_row"]


@pytest.mark.parametrize(
    ("method", "option", "value"),
    [("tree", "budget", 64), ("linear", "n_background", 8), ("exact", "fit_evaluations", 1000),
     ("amortized", "budget", 64), ("kernel", "fit_evaluations", 1000)],
)  # fmt: skip
def test_an_option_the_method_does_not_take_is_an_error(method: str, option: str, value: int) -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    model = (
        RandomForestClassifier(n_estimators=3, random_state=0) if method == "tree" else LogisticRegression()
    )
    model.fit(X, y)
    with pytest.raises(ParameterError) as raised:
        choose_explainer(model, X, method, **{option: value})  # type: ignore[arg-type]
    assert f"'{option}'" in str(raised.value) and f"'{method}'" in str(raised.value)
    assert isinstance(raised.value, ScoringError)


def test_an_unknown_method_is_an_error_listing_the_methods() -> None:
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    with pytest.raises(ParameterError, match=r"'shapley'.*auto, linear, tree"):
        choose_explainer(LogisticRegression().fit(X, y), X, "shapley")


def test_auto_states_the_options_its_pick_did_not_use() -> None:
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    choice = choose_explainer(model, X, budget=64, n_background=8)
    assert choice.explainer.method is Method.TREE and choice.explainer.get_params()["n_background"] == 8
    assert "budget=64 not used by 'tree'" in choice.reason and "n_background" not in choice.reason


def test_the_tolerance_rule_decides(wide: tuple[MLPClassifier, np.ndarray]) -> None:
    """At the default tolerance the pick follows the measured figures, whichever way they fall."""
    model, X = wide
    choice = choose_explainer(model, X, **QUICK)
    assert choice.measured is not None
    ours = choice.measured["amortized"]["median_rel_l2"]
    kernel = choice.measured["kernel"]["median_rel_l2"]
    expected = Method.AMORTIZED if ours <= kernel + 0.05 else Method.KERNEL
    assert choice.explainer.method is expected


def test_non_numeric_columns_fall_back_to_kernel(wide: tuple[MLPClassifier, np.ndarray]) -> None:
    _, X = wide
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame["colour"] = np.where(X[:, 0] > 0, "red", "blue")
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    encode = ColumnTransformer([("colour", OneHotEncoder(), ["colour"])], remainder="passthrough")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_pipeline(encode, MLPClassifier(hidden_layer_sizes=(4,), max_iter=200, random_state=0))
        model.fit(frame, y)
    choice = choose_explainer(model, frame, **QUICK)
    assert choice.explainer.method is Method.KERNEL
    assert "does not apply" in choice.reason and "numeric" in choice.reason
    assert choice.measured is None
