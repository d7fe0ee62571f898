"""Walk outputs (scoring.walks) agree with the model on the rows the walks pass through, feed the
permutation estimates unchanged, and are refused where the proof fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, NuSVC

from scoring.explainers.permutation import permutation_shapley
from scoring.model_output import Columns, make_output
from scoring.walks import (
    WALK_TOLERANCE,
    outputs_and_switches,
    switch_of,
    switch_outputs,
    walk_of,
    walk_outputs,
)


def _data(classes: int = 2, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=150, n_features=7, n_informative=5, n_classes=classes, random_state=0
    )
    return X * scale, y


def _walks(X: np.ndarray, background: np.ndarray, per_row: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n, m = X.shape
    order = np.argsort(rng.random((n, per_row, m)), axis=2)
    rows = background[rng.integers(0, len(background), (n, per_row))]
    return rows, order, np.argsort(order, axis=2)


@pytest.mark.parametrize(
    "model",
    [
        SVC(probability=True, random_state=0),
        NuSVC(probability=True, random_state=0),
        SVC(gamma=0.001, C=100.0, probability=True, random_state=0),
    ],
)
@pytest.mark.parametrize("scale", [1.0, 300.0])  # unscaled features far apart, as the default SVC's
@pytest.mark.parametrize("table", [False, True])  # by running sums, from the background's table
def test_walk_outputs_are_the_model_outputs_on_the_built_rows(model, scale, table) -> None:
    X, y = _data(scale=scale)
    model.fit(X, y)
    walk = walk_of(model, "probability")
    assert walk is not None
    rng = np.random.default_rng(1)
    rows = np.vstack([X[:10], rng.normal(size=(10, X.shape[1])) * 4 * scale])  # beyond the data too
    background, order, rank = _walks(rows, X, 6)
    ours = walk(rows, background, order, table=table)  # type: ignore[call-arg]
    f = make_output(model, Columns.from_data(X))
    built = walk_outputs(lambda Z: f(Z), rows, background, order, rank)  # a plain function: built rows
    assert ours.shape == built.shape == (20, 6, X.shape[1] - 1, 2)
    np.testing.assert_allclose(ours, built, rtol=0.0, atol=WALK_TOLERANCE)
    np.testing.assert_allclose(ours.sum(axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("max_table", [None, 1])  # the whole table, or only the rows walked from
def test_walks_from_a_table_by_index_are_the_walks_from_its_rows(monkeypatch, max_table) -> None:
    """Walks given as a table and each walk's row of it are the walks from those rows, bit for
    bit, on the first call and on later ones (the table's factors kept across calls)."""
    from scoring import walks

    if max_table is not None:
        monkeypatch.setattr(walks, "MAX_TABLE", max_table)
    X, y = _data(scale=300.0)
    model = SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(X, y)
    walk = walk_of(model, "probability")
    assert walk is not None
    rng = np.random.default_rng(4)
    rows = np.vstack([X[:5], rng.normal(size=(3, X.shape[1])) * 1200])
    table = X[20:40]
    for _ in range(2):
        index = rng.integers(0, len(table), (len(rows), 6))
        order = np.argsort(rng.random((len(rows), 6, X.shape[1])), axis=2)
        np.testing.assert_array_equal(walk(rows, table, order, index=index), walk(rows, table[index], order))


def test_permutation_estimates_are_the_same_with_and_without_the_walk_path() -> None:
    X, y = _data()
    model = SVC(probability=True, random_state=0).fit(X, y)
    f = make_output(model, Columns.from_data(X))
    assert f.walk is not None
    values = {}
    for name, g in (("walk", f), ("built", lambda Z: f(Z))):
        values[name] = permutation_shapley(g, X[:8], X, n_permutations=16, rng=np.random.default_rng(3))
    np.testing.assert_allclose(values["walk"], values["built"], rtol=0.0, atol=1e-9)


@pytest.mark.parametrize(
    "model, space",
    [
        (SVC(kernel="linear", probability=True, random_state=0), "probability"),
        (SVC(random_state=0), "log_odds"),  # no probabilities
        (SVC(probability=True, random_state=0), "log_odds"),  # another output
    ],
)
def test_other_models_and_outputs_have_no_walk_path(model, space) -> None:
    X, y = _data()
    assert walk_of(model.fit(X, y), space) is None


def test_three_classes_and_pipelines_have_no_walk_path() -> None:
    X, y = _data(classes=3)
    assert walk_of(SVC(probability=True, random_state=0).fit(X, y), "probability") is None
    X, y = _data()
    piped = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(X, y)
    assert make_output(piped, Columns.from_data(X)).walk is None
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    bare = SVC(probability=True, random_state=0).fit(frame, y)
    assert make_output(bare, Columns.from_data(frame)).walk is not None  # its float block


def test_a_walk_that_disagrees_with_the_model_is_refused(monkeypatch) -> None:
    from scoring import walks

    X, y = _data(scale=300.0)
    model = SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(X, y)
    assert walks.walk_of(model, "probability") is not None
    # the running sums round differently from libsvm's: held to exact equality, the proof fails
    monkeypatch.setattr(walks, "WALK_TOLERANCE", 0.0)
    assert walks.walk_of(model, "probability") is None
    monkeypatch.undo()
    # a kernel that answers another function (Platt's slope flipped) is refused, either one
    sums, products = walks._kernels()

    def flipped(kernel):  # type: ignore[no-untyped-def]
        def run(X, background, order, sv_t, coef, gamma, intercept, a, b, out):  # type: ignore[no-untyped-def]
            kernel(X, background, order, sv_t, coef, gamma, intercept, -a, b, out)

        return run

    def flipped_table(X, table, index, order, sv_t, coef, gamma, intercept, a, b, out):  # type: ignore[no-untyped-def]
        products(X, table, index, order, sv_t, coef, gamma, intercept, -a, b, out)

    monkeypatch.setattr(walks, "_kernels", lambda: (flipped(sums), products))
    assert walks.walk_of(model, "probability") is None
    monkeypatch.setattr(walks, "_kernels", lambda: (sums, flipped_table))
    assert walks.walk_of(model, "probability") is None


def test_a_loaded_amortized_explainer_has_its_walk_path_ready(tmp_path) -> None:
    """Proven and compiled at load, so that no request's deadline pays for it."""
    from scoring.explainers import load_explainer
    from scoring.explainers.amortized import AmortizedExplainer

    X, y = _data()
    model = SVC(probability=True, random_state=0).fit(X, y)
    explainer = AmortizedExplainer(label_evaluations=20_000, n_synthetic=50, n_components=20).fit(model, X)
    explainer.save(tmp_path / "state")
    loaded = load_explainer(tmp_path / "state", model)
    assert "walk" in loaded.output_.__dict__ and loaded.output_.walk is not None


def test_a_walk_path_buys_the_amortized_labels_more_permutations() -> None:
    """By default the labels of a model with a walk path get WALK_FACTOR times the model
    evaluations (a step costs a fraction of an evaluation on built rows); the same SVC inside a
    pipeline, which has no walk path, gets LABEL_EVALUATIONS; an explicit budget is kept as is."""
    from sklearn.preprocessing import FunctionTransformer

    from scoring.explainers.amortized import LABEL_EVALUATIONS, WALK_FACTOR, AmortizedExplainer

    X, y = _data()
    model = SVC(probability=True, random_state=0).fit(X, y)
    wrapped = make_pipeline(FunctionTransformer(), SVC(probability=True, random_state=0)).fit(X, y)
    params = {"n_synthetic": 400, "max_rows": 100, "holdout": 0.0, "n_components": 20}
    bare = AmortizedExplainer(**params).fit(model, X)
    piped = AmortizedExplainer(**params).fit(wrapped, X)
    given = AmortizedExplainer(label_evaluations=LABEL_EVALUATIONS, **params).fit(model, X)
    assert bare.output_.walk is not None and piped.output_.walk is None
    rows, steps = 500, X.shape[1] - 1
    for explainer, budget in ((bare, WALK_FACTOR * LABEL_EVALUATIONS), (piped, LABEL_EVALUATIONS)):
        per_row = budget // (rows * steps)
        assert explainer.fit_info_["permutations_per_row"] == min(1024, per_row - per_row % 4)
    assert given.fit_info_["permutations_per_row"] == piped.fit_info_["permutations_per_row"]


def _switched_by_hand(f, X: np.ndarray, anchors: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """switch_outputs' definition, one row at a time."""
    n, m = X.shape
    out = np.empty((n, len(anchors), 2, m, 2))
    for i in range(n):
        for r, anchor in enumerate(anchors):
            for j in range(m):
                away, back = X[i].copy(), anchor.copy()
                away[j], back[j] = anchor[j], X[i, j]
                out[i, r, 0, j], out[i, r, 1, j] = f(away[None])[0], f(back[None])[0]
    return out


@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_switch_outputs_are_the_model_outputs_one_feature_away(scale) -> None:
    """The SVC's switch path and the built rows both give f at x with one feature from an anchor
    and at the anchor with one feature from x, far rows included (factors that underflow)."""
    X, y = _data(scale=scale)
    model = SVC(gamma=0.001 if scale > 1 else "scale", C=100.0, probability=True, random_state=0).fit(X, y)
    rng = np.random.default_rng(2)
    rows = np.vstack([X[:6], rng.normal(size=(4, X.shape[1])) * 6 * scale])
    anchors = X[10:13]
    want = _switched_by_hand(model.predict_proba, rows, anchors)
    switch = switch_of(model, "probability")
    assert switch is not None
    np.testing.assert_allclose(switch(rows, anchors), want, rtol=0.0, atol=WALK_TOLERANCE)
    built = switch_outputs(model.predict_proba, rows, anchors)  # a plain function: built rows
    np.testing.assert_allclose(built, want, rtol=0.0, atol=1e-15)
    outputs, again = outputs_and_switches(model.predict_proba, rows, anchors)
    np.testing.assert_allclose(outputs, model.predict_proba(rows), rtol=0.0, atol=1e-15)
    np.testing.assert_array_equal(again, built)


def test_a_switch_kernel_that_disagrees_with_the_model_is_refused(monkeypatch) -> None:
    from scoring import walk_kernel

    X, y = _data(scale=300.0)
    model = SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(X, y)
    assert switch_of(model, "probability") is not None
    kernel = walk_kernel.rbf_svc_switches

    def flipped(x_factors, anchor_factors, live, counts, intercept, a, b, tiny, out):  # type: ignore[no-untyped-def]
        kernel(x_factors, anchor_factors, live, counts, intercept, -a, b, tiny, out)

    monkeypatch.setattr(walk_kernel, "rbf_svc_switches", flipped)
    assert switch_of(model, "probability") is None
