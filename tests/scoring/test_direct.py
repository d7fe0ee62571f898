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
