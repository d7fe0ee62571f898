"""Response bodies from the engine's results, as plain functions: additivity with and without
top_k, target selection and ordering, regressors, global importance and metadata."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.bundle import Bundle
from scoring.description import describe
from scoring.explanation import OTHER, Level
from service.config import Settings
from service.outputs import Outputs
from service.requests import ExplainOptions, Target, TargetKind
from service.responses import (
    global_importance_body,
    metadata_body,
    predict_body,
    validation_error_body,
)
from tests.service.bundles import mixed_bundle, mixed_frame, regression_bundle, svc_bundle

MODEL = {"name": "m", "version": "v1"}


@pytest.fixture(scope="module")
def mixed() -> tuple[Bundle, pd.DataFrame]:
    return mixed_bundle(), mixed_frame(n=6, seed=9)[0]


def answer(bundle: Bundle, X: pd.DataFrame, **given: Any) -> dict[str, Any]:
    opts = ExplainOptions(**given)
    return predict_body(MODEL, Outputs.of(bundle), bundle.predict(X), bundle.explain(X, opts.level), opts)


def additive(item: dict[str, Any]) -> bool:
    total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
    return math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(top_k=st.one_of(st.none(), st.integers(0, 12)), level=st.sampled_from(["raw", "engineered"]))
def test_every_item_adds_up(mixed: tuple[Bundle, pd.DataFrame], top_k: int | None, level: str) -> None:
    bundle, X = mixed
    body = answer(bundle, X, top_k=top_k, level=Level(level), target=Target(TargetKind.ALL))
    expected = bundle.explain(X, Level(level))
    for item in body["explanations"]:
        assert additive(item)
        reference = expected.top_k(item["row"], item["target"], top_k)
        assert [a["feature"] for a in item["attributions"]] == [f for f, _ in reference]
        assert np.allclose([a["value"] for a in item["attributions"]], [v for _, v in reference], atol=1e-12)
        if top_k is not None and top_k < expected.n_features:
            assert item["attributions"][-1]["feature"] == OTHER


def test_predicted_target_follows_the_prediction(mixed: tuple[Bundle, pd.DataFrame]) -> None:
    bundle, X = mixed
    body = answer(bundle, X)
    assert [e["target"] for e in body["explanations"]] == body["predictions"]
    assert [e["row"] for e in body["explanations"]] == list(range(len(X)))


def test_all_targets_are_ordered_by_row_then_class(mixed: tuple[Bundle, pd.DataFrame]) -> None:
    bundle, X = mixed
    items = answer(bundle, X.iloc[:2], target=Target(TargetKind.ALL))["explanations"]
    assert [(e["row"], e["target"]) for e in items] == [
        (r, c) for r in range(2) for c in ("low", "mid", "high")
    ]


def test_explain_false(mixed: tuple[Bundle, pd.DataFrame]) -> None:
    bundle, X = mixed
    body = predict_body(MODEL, Outputs.of(bundle), bundle.predict(X), None, ExplainOptions(explain=False))
    assert body["explanations"] is None and len(body["probabilities"]) == len(X)


def test_sampled_explanations_report_their_error() -> None:
    bundle = svc_bundle()
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 6)), columns=[f"f{j}" for j in range(6)])
    items = answer(bundle, X)["explanations"]
    assert all(item["method"] == "kernel" and item["error"] > 0 for item in items)
    assert all(additive(item) for item in items)


def test_regressor_has_no_class_and_no_probabilities() -> None:
    bundle = regression_bundle()
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(4, 5)), columns=[f"r{j}" for j in range(5)])
    body = answer(bundle, X)
    assert body["probabilities"] is None
    assert all(isinstance(p, float) for p in body["predictions"])
    assert [(e["row"], e["target"], e["space"]) for e in body["explanations"]] == [
        (i, None, "raw") for i in range(4)
    ]
    assert all(additive(e) for e in body["explanations"])
    assert np.allclose([e["output"] for e in body["explanations"]], body["predictions"])


def test_global_importance_reads_the_training_report(mixed: tuple[Bundle, pd.DataFrame]) -> None:
    bundle, _ = mixed
    body = global_importance_body(MODEL, describe(bundle))
    assert set(body["levels"]) == {"raw", "engineered"}
    raw = body["levels"]["raw"]
    assert raw["rows"] == 40 and raw["space"] == "log_odds"
    values = [f["value"] for f in raw["features"]]
    assert values == sorted(values, reverse=True)
    assert set(global_importance_body(MODEL, describe(bundle), Level.RAW)["levels"]) == {"raw"}
    # the figures are the mean |attribution| over the rows training explained (its first 40)
    X, _ = mixed_frame()
    expected = np.abs(bundle.explain(X.iloc[:40], Level.RAW).values).mean(axis=0)  # (M, K)
    names = list(bundle.schema.names)
    for item in raw["features"]:
        j = names.index(item["feature"])
        assert item["value"] == pytest.approx(expected[j].mean(), rel=1e-9)
        assert list(item["outputs"].values()) == pytest.approx(expected[j].tolist(), rel=1e-9)


def test_a_bundle_without_a_training_report_has_no_global_importance(
    mixed: tuple[Bundle, pd.DataFrame],
) -> None:
    bundle, _ = mixed
    plain = Bundle(bundle.model, bundle.explainer, bundle.schema, feature_map=bundle.feature_map)
    body = global_importance_body(MODEL, describe(plain))
    assert body["levels"] == {} and body["source"] is None


def test_metadata(mixed: tuple[Bundle, pd.DataFrame]) -> None:
    bundle, _ = mixed
    body = metadata_body(MODEL, describe(bundle), bundle.explainer, Settings())
    assert body["classes"] == ["low", "mid", "high"] and body["class_labels"] == [0, 1, 2]
    assert body["explainer"]["space"] == "log_odds" and body["explainer"]["outputs"] == ["low", "mid", "high"]
    assert body["limits"] == {"max_rows": Settings().max_rows, "max_body_bytes": Settings().max_body_bytes}
    assert body["metrics"] == dict(bundle.report.metrics) and body["metrics_on"] == "evaluation frame"
    fidelity = body["explainer"]["fidelity"]
    assert fidelity["exact"] is True and fidelity == bundle.report.to_json()["fidelity"]


def test_error_bodies_name_row_and_field() -> None:
    from scoring.errors import ValidationError

    row_error = validation_error_body(
        ValidationError("expected a finite number, got 'abc'", row=3, field="age")
    )
    assert row_error == {
        "error": "row 3, feature 'age', expected a finite number, got 'abc'",
        "row": 3,
        "field": "age",
    }
    field_error = validation_error_body(ValidationError("expected null or an integer >= 0", field="top_k"))
    assert field_error["error"].startswith("'top_k'") and field_error["row"] is None
