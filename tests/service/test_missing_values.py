"""Missing values at serving time, for models that take NaN natively (histogram gradient boosting
in the CSV default pipeline, built by the real training code): null, NaN and omitted keys are
missing values where a column is nullable, and no response ever carries NaN or Infinity."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from scoring.bundle import Bundle
from tests.service.bundles import store_bundle
from tests.service.service_client import serve_in_process
from tests.tables import user_table

NUMBERS = ["num_0", "num_1", "num_2", "num_3"]


@pytest.fixture(scope="module")
def hgb(model_store: Path) -> tuple[str, Bundle]:
    """The CLI's CSV default (ordinal codes + HGB) on a table with gaps, bundled by training."""
    from training import build_bundle
    from training.models import make_model

    table = user_table(1500, seed=11)
    y = table.pop("churned")
    model = make_model("hist_gradient_boosting", table, task="classification").fit(table, y)
    built = build_bundle(model, table, X_eval=table.iloc[:200], y_eval=y.iloc[:200], progress=False)
    return store_bundle("test_hgb_native_nan", built.bundle), built.bundle


@pytest.fixture(scope="module")
def client(hgb: tuple[str, Bundle]) -> Iterator[TestClient]:
    with serve_in_process(hgb[0]) as c:
        yield c


def _post(client: TestClient, body: dict[str, Any]) -> Any:
    text = json.dumps(body)  # NaN literals, as json.dumps writes a pandas gap
    return client.post("/predict", content=text, headers={"content-type": "application/json"})


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


BASE = {"num_0": 0.5, "num_1": 1.0, "num_2": 2.0, "num_3": 3.0, "calls": 4, "region": "north", "plan": "plus"}


def test_every_kind_of_gap_is_a_missing_value(client: TestClient, hgb: tuple[str, Bundle]) -> None:
    omitted = {k: v for k, v in BASE.items() if k != "num_2"}
    rows = [BASE, {**BASE, "num_2": float("nan")}, {**BASE, "num_2": None}, omitted]
    r = _post(client, {"rows": rows, "target": "all"})
    assert r.status_code == 200, r.text
    assert "NaN" not in r.text and "Infinity" not in r.text
    body = r.json()
    # the three gaps give one and the same answer, which the bundle gives for a NaN
    assert body["probabilities"][1] == body["probabilities"][2] == body["probabilities"][3]
    frame = hgb[1].schema.validate(rows)
    assert frame["num_2"].isna().tolist() == [False, True, True, True]
    expected = hgb[1].predict(frame).probabilities
    assert expected is not None
    np.testing.assert_allclose([list(p.values()) for p in body["probabilities"]], expected, atol=1e-12)


def test_infinity_is_still_refused_naming_row_and_field(client: TestClient) -> None:
    r = _post(client, {"rows": [BASE, {**BASE, "num_1": float("inf")}]})
    assert r.status_code == 400 and (r.json()["row"], r.json()["field"]) == (1, "num_1")


number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.just(float("nan")),
    st.none(),
)
category = st.one_of(
    st.sampled_from(["north", "south", "east", "west", "atlantis"]), st.none(), st.just(math.nan)
)
row = st.fixed_dictionaries(
    {name: number for name in NUMBERS}
    | {
        "calls": st.one_of(st.integers(min_value=-5, max_value=10**6), st.none()),
        "region": category,
        "plan": st.one_of(st.sampled_from(["basic", "plus", "premium", "gold"]), st.none()),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=6), drop=st.sets(st.sampled_from(NUMBERS), max_size=2))
def test_no_response_carries_a_non_finite_number(
    client: TestClient, rows: list[dict], drop: set[str]
) -> None:
    rows = [{k: v for k, v in r.items() if k not in drop} for r in rows]
    r = _post(client, {"rows": rows, "target": "all"})
    assert r.status_code == 200, r.text  # every column of this bundle is nullable
    assert "NaN" not in r.text and "Infinity" not in r.text
    body = r.json()
    assert _finite(body) and len(body["explanations"]) == 2 * len(rows)
    for item in body["explanations"]:
        total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
        assert math.isclose(total, item["output"], abs_tol=1e-9)
