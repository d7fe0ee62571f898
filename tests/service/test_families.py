"""Every model family the CLI offers (and XGBoost, which the README names) trained on a table
with text columns and gaps, bundled by the real training code, served and explained: answers
equal the bundle's own, add up, and carry no non-finite number."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.service.bundles import store_bundle
from tests.service.service_client import serve_in_process
from tests.tables import user_table
from training.models import FAMILIES, make_model

CASES = [(family, "classification") for family in FAMILIES if family != "linear"]
CASES += [("linear", "regression"), ("hist_gradient_boosting", "regression"), ("xgboost", "classification")]


def _model(family: str, task: str, X):  # type: ignore[no-untyped-def]
    if family != "xgboost":
        return make_model(family, X, task=task)
    import xgboost
    from sklearn.pipeline import Pipeline

    from training.models import make_preprocessor

    estimator = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    return Pipeline([("preprocessor", make_preprocessor(X)), ("model", estimator)])


@pytest.mark.slow
@pytest.mark.parametrize(("family", "task"), CASES, ids=[f"{f}-{t}" for f, t in CASES])
def test_family_trains_bundles_serves_and_explains(model_store: Path, family: str, task: str) -> None:
    from training import build_bundle

    table = user_table(400, n_numbers=3, seed=5)
    y = table.pop("churned")
    if task == "regression":
        y = table["calls"] * 1.5 + np.nan_to_num(table["num_1"].to_numpy())
        table = table.drop(columns="calls")
    y = (y == "yes").astype(int) if family == "xgboost" else y
    model = _model(family, task, table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True), announced for removal
        model.fit(table, y)
        built = build_bundle(
            model, table, X_eval=table.iloc[:60], y_eval=y.iloc[:60], fit_evaluations=40_000,
            budget=64, n_background=5, fidelity_rows=2, progress=False,
        )  # fmt: skip
    bundle = built.bundle
    tag = store_bundle(f"family_{family}_{task}", bundle)
    rows = json.loads(table.iloc[:5].to_json(orient="records"))  # gaps as null
    with serve_in_process(tag) as client:
        options = {"target": "all"} if task == "classification" else {}
        r = client.post("/predict", json={"rows": rows, **options})
    assert r.status_code == 200, r.text
    assert "NaN" not in r.text and "Infinity" not in r.text
    expected = bundle.explain(bundle.schema.validate(rows))
    for item in r.json()["explanations"]:
        k = 0 if item["target"] is None else expected.output_index(item["target"])
        values = {a["feature"]: a["value"] for a in item["attributions"]}
        want = expected.values[item["row"], :, k]
        np.testing.assert_allclose([values[f] for f in expected.feature_names], want, atol=1e-9)
        total = item["base_value"] + sum(values.values()) + item["residual"]
        assert math.isclose(total, item["output"], abs_tol=1e-6)
