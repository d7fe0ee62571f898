"""`bentoml serve service:ExplainedModel` for real, on a small SVC explained by the kernel method:
every returned row adds up, and the service's attributions equal the Python API's."""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from scoring.bundle import Bundle, load_bundle
from scoring.explanation import Level
from tests.e2e.server import Server, serve, store_bundle_in
from tests.service.bundles import rows_of, svc_bundle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Bundle]]:
    home = tmp_path_factory.mktemp("bentoml_home")
    tag, path = store_bundle_in(home, "e2e_svc", svc_bundle())
    with serve(home, tag) as server:
        yield server, load_bundle(path)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    return rows_of(pd.DataFrame(rng.normal(size=(24, 6)), columns=[f"f{j}" for j in range(6)]))


def check_against_python_api(
    body: dict[str, Any], bundle: Bundle, rows: list[dict[str, Any]], level: str
) -> None:
    frame = bundle.schema.validate(rows)
    expected = bundle.explain(frame, Level(level))
    prediction = bundle.predict(frame)
    assert len(body["explanations"]) == len(rows)
    for item in body["explanations"]:
        i = item["row"]
        total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
        assert math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)
        k = expected.output_index(item["target"])
        assert (
            item["target"]
            == expected.output_names[int(np.flatnonzero(bundle.model.classes_ == prediction.labels[i])[0])]
        )
        assert item["output"] == pytest.approx(expected.outputs[i, k], rel=1e-9, abs=1e-12)
        assert item["base_value"] == pytest.approx(expected.base_values[k], rel=1e-9, abs=1e-12)
        assert item["error"] == pytest.approx(expected.error[i, k], rel=1e-6, abs=1e-12)
        want = dict(expected.ranked(i, k))
        got = {a["feature"]: a["value"] for a in item["attributions"]}
        assert got.keys() == want.keys()
        assert all(math.isclose(got[f], want[f], rel_tol=1e-9, abs_tol=1e-12) for f in want)
    assert body["predictions"] == [expected.output_names[int(np.flatnonzero(bundle.model.classes_ == p)[0])]
                                   for p in prediction.labels]  # fmt: skip


def test_attributions_equal_the_python_api(served: tuple[Server, Bundle], rows: list[dict[str, Any]]) -> None:
    server, bundle = served
    r = httpx.post(server.url + "/predict", json={"rows": rows}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {e["method"] for e in body["explanations"]} == {"kernel"}
    assert all(e["error"] is not None for e in body["explanations"])
    check_against_python_api(body, bundle, rows, "raw")


def test_concurrent_requests_each_get_their_own_rows(
    served: tuple[Server, Bundle], rows: list[dict[str, Any]]
) -> None:
    """Requests batched together (sizes 1..4, with bad ones between) answer as if alone."""
    server, bundle = served
    pieces = [rows[i : i + n] for i, n in zip(range(0, 24, 3), [1, 2, 3, 1, 2, 3, 1, 2], strict=True)]
    bad = [{"rows": [{**rows[0], "f1": "oops"}]}, {"rows": [{"f0": 1.0}]}, {"rows": []}]

    def call(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(server.url + "/predict", json=body, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        good = pool.map(call, [{"rows": p} for p in pieces])
        rejected = pool.map(call, bad)
        good, rejected = list(good), list(rejected)
    assert [r.status_code for r in rejected] == [400, 400, 400]
    for piece, r in zip(pieces, good, strict=True):
        assert r.status_code == 200, r.text
        check_against_python_api(r.json(), bundle, piece, "raw")


def test_all_targets_with_top_k(served: tuple[Server, Bundle], rows: list[dict[str, Any]]) -> None:
    server, _ = served
    body = httpx.post(
        server.url + "/predict", json={"rows": rows[:3], "target": "all", "top_k": 2}, timeout=60
    ).json()
    assert [(e["row"], e["target"]) for e in body["explanations"]] == [
        (i, c) for i in range(3) for c in ("no", "yes")
    ]
    for item in body["explanations"]:
        assert [a["feature"] for a in item["attributions"]][-1] == "(other)" and len(
            item["attributions"]
        ) == 3
        total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
        assert math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)


def test_client_errors_over_http(served: tuple[Server, Bundle], rows: list[dict[str, Any]]) -> None:
    server, _ = served
    post = httpx.Client(base_url=server.url, timeout=30).post
    cases = [
        (post("/predict", json={"rows": [{**rows[0], "f2": None}]}), 400, "f2"),
        (
            post(
                "/predict", content=b'{"rows": [{"f0": NaN}]}', headers={"content-type": "application/json"}
            ),
            400,
            "f0",
        ),
        (post("/predict", content=b"{nope", headers={"content-type": "application/json"}), 400, None),
        (post("/predict", content=b"x" * (3 << 20), headers={"content-type": "application/json"}), 413, None),
        (post("/predict", json={"rows": rows[:1], "level": "deep"}), 400, "level"),
    ]
    for response, status, field in cases:
        assert response.status_code == status, response.text
        assert response.json()["field"] == field
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_python_client_metadata_importance_and_metrics(served: tuple[Server, Bundle], rows: list) -> None:
    import bentoml

    server, _ = served
    with bentoml.SyncHTTPClient(server.url) as client:
        assert client.is_ready()
        body = client.predict(rows=rows[:2], top_k=3)
        assert len(body["explanations"]) == 2
        metadata = client.metadata()
        assert metadata["explainer"]["method"] == "kernel" and metadata["classes"] == ["no", "yes"]
        importance = client.global_importance()
        assert set(importance["levels"]) == {"raw", "engineered"}
    assert httpx.get(server.url + "/livez").status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    assert "explained_model_batch_rows" in metrics and "bentoml_service_request" in metrics
    assert "/predict" in httpx.get(server.url + "/docs.json").json()["paths"]
