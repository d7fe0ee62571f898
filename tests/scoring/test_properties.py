"""Properties, by hypothesis: additivity, save/load round trip, row and column order independence."""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from scoring import (
    ExactExplainer,
    Explanation,
    KernelExplainer,
    LinearExplainer,
    ScoringExplainer,
    TreeExplainer,
    load_explainer,
)
from tests.scoring.conftest import Problem

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)
M = 8  # the multiclass problem's width


@pytest.fixture(scope="module")
def explainers(multiclass: Problem) -> dict[str, ScoringExplainer]:
    X, y = multiclass.X, multiclass.model.predict(multiclass.X)
    linear = LogisticRegression(max_iter=500).fit(X, y)
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    # shap's TreeSHAP takes binary boosted classifiers only: class 0 against the rest
    boosted = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y == 0)
    return {
        "exact": ExactExplainer(n_background=5).fit(multiclass.model, X),
        "kernel": KernelExplainer(n_background=5, budget=60, n_bootstrap=5).fit(multiclass.model, X),
        "kernel-sampled-background": KernelExplainer(
            n_background=5, budget=60, rows_per_coalition=2, n_bootstrap=5
        ).fit(multiclass.model, X),
        "linear": LinearExplainer().fit(linear, X),
        "tree": TreeExplainer().fit(forest, X),
        "tree-probability": TreeExplainer(output="probability", n_background=5).fit(boosted, X),
    }


KINDS = st.sampled_from(
    ["exact", "kernel", "kernel-sampled-background", "linear", "tree", "tree-probability"]
)
ROWS = arrays(np.float64, st.tuples(st.integers(1, 6), st.just(M)), elements=st.floats(-5, 5, width=32))


def _same(a: Explanation, b: Explanation, rows: Any = slice(None)) -> None:
    """b equals a's `rows`, up to the last bits a model's batched arithmetic may change."""
    a = a.select(rows)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.outputs, a.outputs, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(b.base_values, a.base_values)
    if a.stderr is not None:
        np.testing.assert_allclose(b.stderr, a.stderr, rtol=1e-9, atol=1e-12)  # type: ignore[arg-type]


@SETTINGS
@given(kind=KINDS, rows=ROWS)
def test_additivity(explainers: dict[str, ScoringExplainer], kind: str, rows: np.ndarray) -> None:
    e = explainers[kind].explain(rows)
    e.check_additivity(atol=1e-6)
    assert e.values.shape == (len(rows), M, e.n_outputs)


@SETTINGS
@given(kind=KINDS, rows=ROWS, data=st.data())
def test_row_order_and_company_do_not_matter(
    explainers: dict[str, ScoringExplainer], kind: str, rows: np.ndarray, data: st.DataObject
) -> None:
    explainer = explainers[kind]
    batch = explainer.explain(rows)
    order = data.draw(st.permutations(range(len(rows))))
    _same(batch, explainer.explain(rows[order]), order)
    i = data.draw(st.integers(0, len(rows) - 1))
    _same(batch, explainer.explain(rows[i]), [i])


@SETTINGS
@given(kind=KINDS, rows=ROWS, data=st.data())
def test_column_order_of_a_frame_does_not_matter(
    explainers: dict[str, ScoringExplainer], kind: str, rows: np.ndarray, data: st.DataObject
) -> None:
    explainer = explainers[kind]
    names = list(explainer.feature_names_in_)
    shuffled = data.draw(st.permutations(names))
    frame = pd.DataFrame(rows, columns=names)[shuffled]
    _same(explainer.explain(rows), explainer.explain(frame))


@SETTINGS
@given(kind=KINDS, rows=ROWS)
def test_save_load_round_trip(explainers: dict[str, ScoringExplainer], kind: str, rows: np.ndarray) -> None:
    explainer = explainers[kind]
    with tempfile.TemporaryDirectory() as tmp:
        explainer.save(tmp)
        loaded = load_explainer(tmp, explainer.output_.model)
    a, b = explainer.explain(rows), loaded.explain(rows)
    for field in ("values", "base_values", "outputs", "stderr"):
        np.testing.assert_array_equal(getattr(b, field), getattr(a, field), err_msg=field)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    budget=st.integers(10, 254),
    sampling=st.sampled_from(["leverage", "kernel"]),
    seed=st.integers(0, 2**16),
    n_bootstrap=st.integers(0, 6),
    rows_per_coalition=st.sampled_from([None, 1, 2, 3, 4]),
    rows=ROWS,
)
def test_any_kernel_configuration_is_additive_and_round_trips(
    multiclass: Problem,
    budget: int,
    sampling: str,
    seed: int,
    n_bootstrap: int,
    rows_per_coalition: int | None,
    rows: np.ndarray,
) -> None:
    explainer = KernelExplainer(
        n_background=4,
        budget=budget,
        sampling=sampling,
        n_bootstrap=n_bootstrap,
        rows_per_coalition=rows_per_coalition,
        seed=seed,
    ).fit(multiclass.model, multiclass.X)
    assert len(explainer.design_.masks) <= budget
    assert explainer.evaluations_per_row_ <= budget * min(4, rows_per_coalition or 4)
    e = explainer.explain(rows)
    e.check_additivity(atol=1e-6)
    with tempfile.TemporaryDirectory() as tmp:
        explainer.save(tmp)
        loaded = load_explainer(tmp, multiclass.model)
    again = loaded.explain(rows)
    np.testing.assert_array_equal(again.values, e.values)
    np.testing.assert_array_equal(again.stderr, e.stderr)  # type: ignore[arg-type]


@SETTINGS
@given(
    values=arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 3)),
        elements=st.floats(-1e3, 1e3),
    ),
    data=st.data(),
)
def test_top_k_plus_other_adds_up(values: np.ndarray, data: st.DataObject) -> None:
    n, m, k = values.shape
    e = Explanation(
        values=values,
        base_values=np.zeros(k),
        outputs=values.sum(axis=1),
        feature_names=tuple(f"f{j}" for j in range(m)),
        output_names=tuple(f"o{j}" for j in range(k)),
        space="raw",  # type: ignore[arg-type]
        method="kernel",  # type: ignore[arg-type]
    )
    row, output, top = (
        data.draw(st.integers(0, n - 1)),
        data.draw(st.integers(0, k - 1)),
        data.draw(st.integers(0, m)),
    )
    entries = e.top_k(row, output, top)
    assert sum(v for _, v in entries) == pytest.approx(values[row, :, output].sum(), rel=1e-9, abs=1e-9)
    names = [name for name, _ in entries]
    assert len(set(names)) == len(names)
