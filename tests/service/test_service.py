"""The service in process (`ExplainedModel.to_asgi()` behind starlette's TestClient): every endpoint,
and every kind of bad input answered with a 4xx naming the row and field, never a 500."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from scoring.bundle import Bundle, load_bundle
from scoring.explanation import OTHER
from tests.service.bundles import mixed_frame, reference, rows_of
from tests.service.service_client import serve_in_process


@pytest.fixture(scope="module")
def client(stored: Callable[[str], str]) -> Iterator[TestClient]:
    with serve_in_process(stored("mixed")) as c:
        yield c


@pytest.fixture(scope="module")
def bundle(client: TestClient) -> Bundle:
    import bentoml

    return load_bundle(bentoml.models.get(client.post("/metadata").json()["model"]["name"] + ":latest").path)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    X, _ = mixed_frame(n=40, seed=7)
    return rows_of(X)


def post(client: TestClient, body: Any, path: str = "/predict") -> Any:
    return client.post(path, json=body)


def assert_additive(item: dict[str, Any]) -> None:
    total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
    assert math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)


def assert_client_error(
    response: Any, status: int = 400, *, field: str | None, row: int | None = None
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "row", "field"}
    assert body["field"] == field
    assert body["row"] == row
    assert isinstance(body["error"], str) and body["error"]


# -- predict ---------------------------------------------------------------------------------------
def test_predict_answers_every_row_with_its_explanation(
    client: TestClient, rows: list, bundle: Bundle
) -> None:
    r = post(client, {"rows": rows[:5]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"model", "predictions", "probabilities", "explanations"}
    assert body["model"]["name"] == "test_mixed" and body["model"]["version"]
    assert len(body["predictions"]) == len(body["probabilities"]) == len(body["explanations"]) == 5
    expected = reference(bundle, rows[:5])
    for i, (item, probabilities) in enumerate(zip(body["explanations"], body["probabilities"], strict=True)):
        assert item["row"] == i
        assert item["target"] == body["predictions"][i] == max(probabilities, key=probabilities.get)
        assert set(probabilities) == {"low", "mid", "high"}
        assert math.isclose(sum(probabilities.values()), 1.0)
        assert (item["space"], item["method"], item["level"], item["error"]) == (
            "log_odds",
            "linear",
            "raw",
            None,
        )
        assert_additive(item)
        values = [abs(a["value"]) for a in item["attributions"]]
        assert values == sorted(values, reverse=True)
        k = expected.output_index(item["target"])
        assert dict(expected.ranked(i, k)) == pytest.approx(
            {a["feature"]: a["value"] for a in item["attributions"]}
        )


def test_top_k_keeps_the_sum_in_other(client: TestClient, rows: list) -> None:
    for k in (0, 1, 2, 4, 9):
        body = post(client, {"rows": rows[:3], "top_k": k}).json()
        for item in body["explanations"]:
            names = [a["feature"] for a in item["attributions"]]
            assert names[-1] == OTHER if k < 4 else OTHER not in names
            assert len(names) == min(k, 4) + (k < 4)
            assert_additive(item)


def test_engineered_level(client: TestClient, rows: list, bundle: Bundle) -> None:
    body = post(client, {"rows": rows[:2], "level": "engineered"}).json()
    expected = reference(bundle, rows[:2], "engineered")
    for item in body["explanations"]:
        assert item["level"] == "engineered"
        assert {a["feature"] for a in item["attributions"]} == set(expected.feature_names)
        assert_additive(item)


def test_target_all_gives_one_explanation_per_row_and_class(client: TestClient, rows: list) -> None:
    body = post(client, {"rows": rows[:3], "target": "all"}).json()
    assert [(e["row"], e["target"]) for e in body["explanations"]] == [
        (i, c) for i in range(3) for c in ("low", "mid", "high")
    ]


@pytest.mark.parametrize("target", ["mid", 1])
def test_target_one_class_by_name_or_label(client: TestClient, rows: list, target: Any) -> None:
    body = post(client, {"rows": rows[:3], "target": target}).json()
    assert [e["target"] for e in body["explanations"]] == ["mid"] * 3


def test_explain_false_gives_predictions_only(client: TestClient, rows: list) -> None:
    body = post(client, {"rows": rows[:3], "explain": False}).json()
    assert body["explanations"] is None and len(body["predictions"]) == 3


def test_nullable_feature_takes_null(client: TestClient, rows: list) -> None:
    r = post(client, {"rows": [{**rows[0], "weight": None}]})
    assert r.status_code == 200
    assert_additive(r.json()["explanations"][0])


def test_row_and_key_order_do_not_change_answers(client: TestClient, rows: list) -> None:
    forward = post(client, {"rows": rows[:6]}).json()
    backward = post(client, {"rows": [dict(reversed(list(r.items()))) for r in rows[:6][::-1]]}).json()
    assert forward["predictions"] == backward["predictions"][::-1]
    for a, b in zip(forward["explanations"], backward["explanations"][::-1], strict=True):
        assert [x["feature"] for x in a["attributions"]] == [x["feature"] for x in b["attributions"]]
        assert np.allclose([x["value"] for x in a["attributions"]], [x["value"] for x in b["attributions"]])


# -- bad input: each a 4xx naming the row and field ------------------------------------------------
BAD_ROWS = [
    ("missing feature", lambda r: {k: v for k, v in r.items() if k != "count"}, "count"),
    ("unknown feature", lambda r: {**r, "colour": "red"}, "colour"),
    ("string for a number", lambda r: {**r, "size": "1.5"}, "size"),
    ("boolean for a number", lambda r: {**r, "size": True}, "size"),
    ("object for a number", lambda r: {**r, "size": {"v": 1}}, "size"),
    ("fraction for an integer", lambda r: {**r, "count": 2.5}, "count"),
    ("null where the model cannot take one", lambda r: {**r, "size": None}, "size"),
    ("unseen category", lambda r: {**r, "color": "pink"}, "color"),
    ("number for a category", lambda r: {**r, "color": 3}, "color"),
    ("integer too large for a float", lambda r: {**r, "size": 10**400}, "size"),
    ("integer too large for an int64 column", lambda r: {**r, "count": 10**20}, "count"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_bad_row_is_named(client: TestClient, rows: list, case: str, change: Any, field: str) -> None:
    body = {"rows": [rows[0], rows[1], change(rows[2])]}
    assert_client_error(post(client, body), field=field, row=2)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_rejected(client: TestClient, rows: list, literal: str) -> None:
    text = json.dumps({"rows": [rows[0], {**rows[1], "size": 0.5}]}).replace("0.5", literal)
    r = client.post("/predict", content=text, headers={"content-type": "application/json"})
    assert_client_error(r, field="size", row=1)


def test_row_that_is_not_an_object(client: TestClient, rows: list) -> None:
    assert_client_error(post(client, {"rows": [rows[0], [1, 2, 3]]}), field=None, row=1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "rows"),
        ({"rows": None}, "rows"),
        ({"rows": []}, "rows"),
        ({"rows": {"size": 1}}, "rows"),
        ({"rows": "abc"}, "rows"),
        ({"rows": "ROWS", "top_k": -1}, "top_k"),
        ({"rows": "ROWS", "top_k": 1.5}, "top_k"),
        ({"rows": "ROWS", "top_k": "3"}, "top_k"),
        ({"rows": "ROWS", "top_k": True}, "top_k"),
        ({"rows": "ROWS", "level": "cooked"}, "level"),
        ({"rows": "ROWS", "level": None}, "level"),
        ({"rows": "ROWS", "target": "purple"}, "target"),
        ({"rows": "ROWS", "target": 7}, "target"),
        ({"rows": "ROWS", "target": True}, "target"),
        ({"rows": "ROWS", "target": None}, "target"),
        ({"rows": "ROWS", "explain": "yes"}, "explain"),
        ({"rows": "ROWS", "explain": 1}, "explain"),
        ({"rows": "ROWS", "topk": 3}, "topk"),
    ],
)
def test_bad_request_field_is_named(client: TestClient, rows: list, body: dict, field: str) -> None:
    body = {k: rows[:2] if v == "ROWS" else v for k, v in body.items()}
    assert_client_error(post(client, body), field=field)


def test_a_request_bigger_than_a_batch_is_answered_whole(
    client: TestClient, rows: list, bundle: Bundle
) -> None:
    from service.service import SETTINGS

    many = (rows * (SETTINGS.batch_max_rows // len(rows) + 2))[: SETTINGS.batch_max_rows + 7]
    body = post(client, {"rows": many, "top_k": 1}).json()
    assert [e["row"] for e in body["explanations"]] == list(range(len(many)))
    expected = reference(bundle, many)
    for item in body["explanations"][-10:]:
        assert item["output"] == pytest.approx(
            expected.outputs[item["row"], expected.output_index(item["target"])]
        )


def test_too_many_rows(client: TestClient, rows: list) -> None:
    from service.service import SETTINGS

    many = rows * (SETTINGS.max_rows // len(rows) + 1)
    assert len(many) > SETTINGS.max_rows
    assert_client_error(post(client, {"rows": many}), field="rows")


def test_body_over_the_size_limit_is_413(client: TestClient) -> None:
    from service.service import SETTINGS

    big = b'{"rows": [' + b" " * SETTINGS.max_body_bytes + b"]}"
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert_client_error(r, 413, field=None)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"rows": ['
        for _ in range(SETTINGS.max_body_bytes // 65536 + 1):
            yield b" " * 65536
        yield b"]}"

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert_client_error(r, 413, field=None)


@pytest.mark.parametrize(
    "content", [b"{bad", b'{"rows": [1,}', b"[1, 2]", b'"rows"', b"\xff\xfe{", b"[" * 100_000]
)
def test_malformed_json_is_400(client: TestClient, content: bytes) -> None:
    r = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert_client_error(r, field=None)


def test_other_media_types_are_415(client: TestClient) -> None:
    r = client.post("/predict", content=b"rows=1", headers={"content-type": "multipart/form-data"})
    assert_client_error(r, 415, field=None)


def test_bad_requests_do_not_change_good_answers(client: TestClient, rows: list) -> None:
    before = post(client, {"rows": rows[:4]}).json()
    for change, field in ((lambda r: {**r, "size": "x"}, "size"), (lambda r: {**r, "color": None}, "color")):
        assert_client_error(post(client, {"rows": [rows[0], change(rows[1])]}), field=field, row=1)
    assert post(client, {"rows": rows[:4]}).json() == before


def test_unexpected_failure_is_a_generic_500_and_the_server_stays_up(
    client: TestClient, rows: list, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bentoml

    service = bentoml.get_current_service()
    if service is None:
        pytest.skip("the in-process app did not expose its service instance")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.bundle, "answer", broken)
    r = post(client, {"rows": rows[:2]})
    assert r.status_code == 500
    assert "secret" not in r.text and set(r.json()) == {"error", "row", "field"}
    monkeypatch.undo()
    assert post(client, {"rows": rows[:2]}).status_code == 200


# -- the other endpoints ---------------------------------------------------------------------------
def test_metadata(client: TestClient, bundle: Bundle) -> None:
    r = client.post("/metadata")
    assert r.status_code == 200
    body = r.json()
    assert body["task"] == "classification" and body["classes"] == ["low", "mid", "high"]
    assert [f["name"] for f in body["schema"]["features"]] == ["size", "weight", "count", "color"]
    assert body["levels"] == ["raw", "engineered"]
    assert body["explainer"]["method"] == "linear" and body["explainer"]["fidelity"] is not None
    assert bundle.report is not None and body["metrics"] == bundle.report.metrics  # what training measured
    assert {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"} <= set(body["metrics"])
    assert body["metrics_on"] == "evaluation frame"
    assert {"scikit-learn", "bentoml", "numpy"} <= set(body["versions"]["serving"])
    assert body["versions"]["trained_with"]["scikit-learn"] == body["versions"]["serving"]["scikit-learn"]
    assert body["limits"]["max_rows"] >= 1
    assert_client_error(client.post("/metadata", json={"x": 1}), field="x")


def test_global_importance_both_levels(client: TestClient) -> None:
    body = client.post("/global_importance").json()
    assert set(body["levels"]) == {"raw", "engineered"}
    raw = body["levels"]["raw"]["features"]
    assert {f["feature"] for f in raw} == {"size", "weight", "count", "color"}
    assert [f["value"] for f in raw] == sorted((f["value"] for f in raw), reverse=True)
    assert set(raw[0]["outputs"]) == {"low", "mid", "high"}
    one = client.post("/global_importance", json={"level": "engineered"}).json()
    assert set(one["levels"]) == {"engineered"}
    assert_client_error(client.post("/global_importance", json={"level": "cooked"}), field="level")


def test_health_and_readiness(client: TestClient) -> None:
    for path in ("/livez", "/readyz", "/healthz"):
        assert client.get(path).status_code == 200


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/docs.json").json()
    assert {"/predict", "/metadata", "/global_importance"} <= set(spec["paths"])
    request = json.dumps(spec["paths"]["/predict"]["post"]["requestBody"])
    assert "rows" in request and "top_k" in request


def test_batched_answers_equal_single_answers(client: TestClient, rows: list) -> None:
    from concurrent.futures import ThreadPoolExecutor

    singles = [post(client, {"rows": [r]}).json()["explanations"][0] for r in rows[:12]]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda r: post(client, {"rows": [r]}).json()["explanations"][0], rows[:12]))
    for a, b in zip(singles, together, strict=True):
        assert [x["feature"] for x in a["attributions"]] == [x["feature"] for x in b["attributions"]]
        assert np.allclose([x["value"] for x in a["attributions"]], [x["value"] for x in b["attributions"]])


def test_dashboard_is_mounted(client: TestClient) -> None:
    page = client.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
