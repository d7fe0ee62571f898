"""Explainer state on disk: JSON plus plain .npy arrays, no pickle; loading gives identical results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from scoring import (
    BundleError,
    ExactExplainer,
    KernelExplainer,
    LinearExplainer,
    ScoringExplainer,
    TreeExplainer,
    load_explainer,
)
from scoring.state import STATE_FILE
from tests.scoring.conftest import Problem


def _boosted() -> tuple[Any, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    return GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y), X


def _logistic() -> tuple[Any, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=6, random_state=1)
    return LogisticRegression().fit(X, y), X


def _fitted(kind: str, multiclass: Problem) -> tuple[ScoringExplainer, Any, np.ndarray]:
    if kind == "exact":
        return ExactExplainer(n_background=6).fit(multiclass.model, multiclass.X), *_pair(multiclass)
    if kind == "kernel":
        explainer = KernelExplainer(n_background=6, budget=40, n_bootstrap=5, seed=7)
        return explainer.fit(multiclass.model, multiclass.X), *_pair(multiclass)
    if kind == "kernel-sampled-background":
        explainer = KernelExplainer(n_background=6, budget=40, rows_per_coalition=2, n_bootstrap=5, seed=7)
        explainer.fit(multiclass.model, multiclass.X)
        assert explainer.rows_ is not None
        return explainer, *_pair(multiclass)
    if kind == "linear":
        model, X = _logistic()
        return LinearExplainer().fit(model, X), model, X
    model, X = _boosted()
    output = "probability" if kind == "tree-probability" else "margin"
    return TreeExplainer(output=output, n_background=8).fit(model, X), model, X


def _pair(problem: Problem) -> tuple[Any, np.ndarray]:
    return problem.model, problem.X


KINDS = ["exact", "kernel", "kernel-sampled-background", "linear", "tree-margin", "tree-probability"]


@pytest.mark.parametrize("kind", KINDS)
def test_saved_state_is_json_and_plain_arrays(kind: str, multiclass: Problem, tmp_path: Path) -> None:
    explainer, _, _ = _fitted(kind, multiclass)
    explainer.save(tmp_path)
    doc = json.loads((tmp_path / STATE_FILE).read_text())
    assert doc["method"] == str(explainer.method)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([STATE_FILE, *doc["arrays"].values()])
    for name in doc["arrays"].values():
        arr = np.load(tmp_path / name, allow_pickle=False)
        assert arr.dtype.kind in "biuf"


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_gives_identical_explanations(kind: str, multiclass: Problem, tmp_path: Path) -> None:
    explainer, model, X = _fitted(kind, multiclass)
    explainer.save(tmp_path)
    loaded = load_explainer(tmp_path, model)
    assert type(loaded) is type(explainer)
    assert loaded.get_params() == explainer.get_params()
    before, after = explainer.explain(X[:5]), loaded.explain(X[:5])
    for field in ("values", "base_values", "outputs", "stderr", "data"):
        np.testing.assert_array_equal(getattr(after, field), getattr(before, field), err_msg=field)
    for field in ("feature_names", "output_names", "space", "method", "level"):
        assert getattr(after, field) == getattr(before, field)


def test_round_trip_of_a_frame_keeps_names_and_dtypes(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=200, n_features=4, random_state=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).astype({"d": "float32"})
    model = LogisticRegression().fit(frame, y)
    explainer = KernelExplainer(n_background=5, budget=14).fit(model, frame, class_names=["no", "yes"])
    explainer.save(tmp_path)
    loaded = load_explainer(tmp_path, model)
    assert loaded.feature_names_in_ == ("a", "b", "c", "d")
    assert loaded.output_names_ == ("no", "yes")
    assert loaded.output_.columns.dtypes == explainer.output_.columns.dtypes
    np.testing.assert_array_equal(loaded.explain(frame[:3]).values, explainer.explain(frame[:3]).values)


def test_missing_state_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=STATE_FILE):
        load_explainer(tmp_path, None)


def test_unknown_format_version_is_a_bundle_error(multiclass: Problem, tmp_path: Path) -> None:
    explainer, model, _ = _fitted("exact", multiclass)
    explainer.save(tmp_path)
    doc = json.loads((tmp_path / STATE_FILE).read_text())
    doc["format_version"] = 999
    (tmp_path / STATE_FILE).write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="format 999"):
        load_explainer(tmp_path, model)
