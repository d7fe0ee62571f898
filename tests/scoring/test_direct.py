"""The direct path (scoring.direct) answers exactly as the estimator's public API, or is not used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, NuSVC

from scoring.direct import direct_calls
from scoring.pipeline import Pass, unnamed_rows


def _data(classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=classes, random_state=0
    )
    return X, y


@pytest.mark.parametrize(
    "make",
    [
        lambda: SVC(probability=True, random_state=0),
        lambda: SVC(kernel="linear", probability=True, random_state=0),
        lambda: NuSVC(probability=True, random_state=0),
        lambda: SVC(random_state=0),  # no probabilities: labels only
    ],
)
@pytest.mark.parametrize("classes", [2, 3])
def test_direct_answers_are_the_public_ones(make, classes) -> None:
    X, y = _data(classes)
    model = make().fit(X, y)
    plan = Pass.of(model)
    assert plan.direct is not None
    rows = np.random.default_rng(1).normal(size=(40, 6)) * 3  # beyond the training data too
    for block in (rows, np.asfortranarray(rows), rows[:1]):
        assert np.array_equal(plan.predict(block), model.predict(block))
        if hasattr(model, "predict_proba"):
            assert np.array_equal(plan.predict_proba(block), model.predict_proba(block))
    assert (plan.direct.predict_proba is None) == (not hasattr(model, "predict_proba"))


def test_frame_fitted_svc_takes_its_float_block() -> None:
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(6)])
    model = SVC(probability=True, random_state=0).fit(frame, y)
    plan = Pass.of(model)
    assert plan.direct is not None
    with unnamed_rows():
        assert np.array_equal(plan.predict_proba(frame.to_numpy()), model.predict_proba(frame))


def test_other_inputs_take_the_public_api() -> None:
    X, y = _data()
    model = SVC(probability=True, random_state=0).fit(X, y)
    plan = Pass.of(model)
    # a block of another width reaches scikit-learn, which names the mismatch
    with pytest.raises(ValueError, match="features"):
        plan.predict_proba(X[:, :5])
    assert plan.direct is not None and not plan.direct.takes(X.astype(np.float32))
    assert np.array_equal(plan.predict(X.astype(np.float32)), model.predict(X.astype(np.float32)))


def test_models_without_a_known_compute_have_none() -> None:
    X, y = _data()
    assert direct_calls(LogisticRegression().fit(X, y)) is None
    assert direct_calls(SVC(kernel="precomputed").fit(X @ X.T, y)) is None
    assert direct_calls(SVC(probability=True, random_state=0).fit(sp.csr_matrix(X), y)) is None

    class MySVC(SVC):  # a subclass may compute otherwise
        pass

    assert direct_calls(MySVC(probability=True, random_state=0).fit(X, y)) is None


def test_break_ties_keeps_the_public_predict() -> None:
    X, y = _data(3)
    model = SVC(probability=True, break_ties=True, random_state=0).fit(X, y)
    direct = direct_calls(model)
    assert direct is not None and direct.predict is None and direct.predict_proba is not None
    plan = Pass.of(model)
    assert np.array_equal(plan.predict(X), model.predict(X))


def _across_the_boundary(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows on lines between random pairs of training rows, beyond them and densely between."""
    lines = []
    for _ in range(60):
        a, b = X[rng.integers(len(X))], X[rng.integers(len(X))]
        steps = np.concatenate([np.linspace(-4, 5, 80), rng.uniform(0, 1, 80)])
        lines.append(a[None] + steps[:, None] * (b - a)[None])
    return np.ascontiguousarray(np.vstack(lines))


@pytest.mark.parametrize("platt", [None, (2.0, -1.0), (-40.0, 3.0), (-3.0, 25.0)])
@pytest.mark.parametrize(
    "make", [lambda: SVC(probability=True, random_state=0), lambda: NuSVC(probability=True)]
)
def test_a_binary_svcs_labels_read_from_its_probabilities_are_its_predict(make, platt) -> None:
    """Away from the boundary the Platt probability decides the label; near it (and for Platt
    curves of either sign, or clipped) libsvm's predict does: the labels are predict's, always,
    and predict's pass over the support vectors is spent on the band's rows only."""
    X, y = _data()
    model = make().fit(X, np.where(y == 1, "yes", "no"))
    if platt is not None:  # another fitted curve: rising, steep, or clipped near 1
        model._probA, model._probB = np.array([platt[0]]), np.array([platt[1]])
    plan = Pass.of(model)
    assert plan.direct is not None and plan.direct.labels_from is not None
    rows = _across_the_boundary(X, np.random.default_rng(2))
    probabilities = plan.predict_proba(rows)
    asked: list[int] = []
    dense_predict = model._dense_predict

    def counted(block: np.ndarray) -> np.ndarray:
        asked.append(len(block))
        return dense_predict(block)

    model._dense_predict = counted
    labels = plan.labels(rows, probabilities)
    del model._dense_predict
    assert np.array_equal(labels, model.predict(rows)) and labels.dtype == model.predict(rows).dtype
    assert set(labels.tolist()) == {"yes", "no"}
    if platt is None or platt == (-40.0, 3.0):  # a curve that separates: most rows decided
        assert sum(asked) < 0.2 * len(rows)


def test_probabilities_decide_no_label_of_a_multiclass_svc() -> None:
    X, y = _data(3)
    plan = Pass.of(SVC(probability=True, random_state=0).fit(X, y))
    assert plan.direct is not None and plan.direct.labels_from is None
