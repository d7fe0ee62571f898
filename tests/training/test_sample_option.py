"""The dashboard's evaluation sample in the bundles training builds, and how to leave it out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from scoring.sample import SAMPLE
from training.__main__ import parse_args
from training.package import build_bundle

QUICK = {"progress": False, "fidelity_rows": 4}


def _doc(built: Any) -> dict[str, Any]:
    return json.loads(built.files[SAMPLE])


def test_the_sample_holds_the_evaluation_rows(mixed: Any, mixed_pipeline: Any) -> None:
    X, y = mixed
    X_train, X_test, y_test = X.iloc[:180], X.iloc[180:], y.iloc[180:]
    built = build_bundle(
        mixed_pipeline, X_train, X_eval=X_test, y_eval=y_test, class_names=["no", "yes"], **QUICK
    )
    doc = _doc(built)
    assert doc["omitted"] is None and doc["n_rows"] == doc["n_source_rows"] == len(X_test)
    assert doc["y_true"] == np.where(y_test.to_numpy() == 1, "yes", "no").tolist()
    assert set(doc["explanations"]) == {"raw", "engineered"}
    assert "sample_s" in built.report.timings

    capped = _doc(
        build_bundle(mixed_pipeline, X_train, X_eval=X_test, y_eval=y_test, sample_rows=7, seed=3, **QUICK)
    )
    assert (capped["n_rows"], capped["n_source_rows"], capped["seed"]) == (7, len(X_test), 3)


def test_a_costly_explainer_reuses_the_rows_global_importance_explained(
    mixed: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any
) -> None:
    X, y = mixed
    X_train, X_test, y_test = X.iloc[:120], X.iloc[120:], y.iloc[120:]
    built = build_bundle(
        mixed_pipeline, X_train, X_eval=X_test, y_eval=y_test, explainer="kernel", budget=32,
        n_background=5, **QUICK,
    )  # fmt: skip
    doc = _doc(built)
    importance = built.report.global_importance["raw"]
    assert doc["n_rows"] == importance.rows < len(X_test)
    # the stored attributions are the ones global importance averaged, not a second sampling
    values = np.abs(np.asarray(doc["explanations"]["raw"]["values"])).mean(axis=0)
    np.testing.assert_allclose(values, importance.mean_abs, rtol=1e-4, atol=1e-6)


def test_the_sample_can_be_left_out(mixed: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any) -> None:
    X, y = mixed
    left_out = build_bundle(
        mixed_pipeline, X.iloc[:180], X_eval=X.iloc[180:], y_eval=y.iloc[180:], omit_sample="GDPR", **QUICK
    )
    assert _doc(left_out) == {"format_version": 1, "omitted": "GDPR"}
    no_eval = build_bundle(mixed_pipeline, X.iloc[:180], **QUICK)
    assert "no evaluation frame" in _doc(no_eval)["omitted"]


def test_the_cli_options() -> None:
    assert (parse_args([]).no_sample, parse_args([]).sample_rows) == (False, None)
    args = parse_args(["--no-sample", "--sample-rows", "100"])
    assert (args.no_sample, args.sample_rows) == (True, 100)
