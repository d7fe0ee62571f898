"""Out-of-range flags, the default refinement and a per-request budget, through the service in
process (`ExplainedModel.to_asgi()`), on a tiny amortized bundle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from tests.service.service_client import serve_in_process


@pytest.fixture(scope="module")
def client(stored: Callable[[str], str]) -> Iterator[TestClient]:
    with serve_in_process(stored("amortized")) as c:
        yield c


def _row(**changes: float) -> dict[str, Any]:
    return {**{f"f{j}": 0.1 * j for j in range(6)}, **changes}


def _item(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    return response.json()["explanations"][0]


def test_a_value_beyond_the_training_range_is_flagged_and_refined(client: TestClient) -> None:
    inside = _item(client, {"rows": [_row()]})
    assert inside["outside"] == [] and inside["evaluations"] == 0
    far = _item(client, {"rows": [_row(f2=1e6)]})
    assert far["outside"] == ["f2"]
    assert far["evaluations"] > 0  # the default refinement took it
    assert all(abs(a["value"]) <= 1.0 for a in far["attributions"])  # probability space
    assert far["error"] is not None and far["error"] > 0
    total = far["base_value"] + sum(a["value"] for a in far["attributions"]) + far["residual"]
    assert total == pytest.approx(far["output"], abs=1e-9)


def test_a_budget_refines_every_row_and_states_its_error(client: TestClient) -> None:
    plain = _item(client, {"rows": [_row()]})
    refined = _item(client, {"rows": [_row()], "max_ms": 50})
    assert refined["evaluations"] > 0
    assert refined["error"] <= plain["error"] * (1 + 1e-9)
    zero = _item(client, {"rows": [_row()], "max_ms": 0})
    assert zero["evaluations"] == 0 and zero["error"] == pytest.approx(plain["error"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_ms": -1}, "max_ms"),
        ({"max_ms": "50"}, "max_ms"),
        ({"max_ms": True}, "max_ms"),
        ({"max_ms": 10_000}, "max_ms"),
        ({"precision": 0}, "precision"),
        ({"precision": "high"}, "precision"),
    ],
)
def test_a_bad_budget_is_a_400_naming_it(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/predict", json={"rows": [_row()], **body})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def _counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_metrics_count_refined_rows_and_their_cost(client: TestClient) -> None:
    """The counters /metrics exports (the in-process service shares this registry)."""
    rows, cost = (
        _counter("explained_model_refined_rows_total"),
        _counter("explained_model_refinement_evaluations_total"),
    )
    _item(client, {"rows": [_row(), _row(f1=2.0)], "max_ms": 5})
    assert _counter("explained_model_refined_rows_total") == rows + 2
    assert _counter("explained_model_refinement_evaluations_total") > cost


def test_metadata_states_the_refinement(client: TestClient) -> None:
    refinement = client.post("/metadata").json()["refinement"]
    assert refinement["available"] is True
    assert refinement["default_max_ms_per_row"] > 0 and refinement["typical_error"] > 0
