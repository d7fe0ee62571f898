"""The served OpenAPI document tells the truth: valid OpenAPI 3.0, /predict's rows described by
the bundle's features, and schemathesis (bounded examples) against it finds no 5xx and no
schema-valid request refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.definitions import OPENAPI_30

from tests.e2e.server import Server, serve, store_bundle_in
from tests.service.bundles import COLORS, mixed_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = 60  # per operation


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("openapi_home")
    tag, _ = store_bundle_in(home, "openapi_mixed", mixed_bundle())
    with serve(home, tag, env={"MAX_ROWS": "20"}) as s:
        yield s


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    return httpx.get(server.url + "/docs.json", timeout=30).json()  # type: ignore[no-any-return]


def test_the_document_is_valid_openapi_30(document: dict[str, Any]) -> None:
    errors = [e.message for e in jsonschema.Draft4Validator(OPENAPI_30).iter_errors(document)]
    assert document["openapi"].startswith("3.0") and errors == []


def test_predict_rows_name_the_bundles_features(document: dict[str, Any]) -> None:
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    rows = body["properties"]["rows"]
    row = rows["items"]
    assert (
        set(row["properties"]) == {"size", "weight", "count", "color"}
        and row["additionalProperties"] is False
    )
    assert set(row["required"]) == {"size", "count", "color"}  # weight is nullable: may be left out
    assert row["properties"]["weight"]["nullable"] is True and row["properties"]["count"]["type"] == "integer"
    assert row["properties"]["color"] == {"type": "string", "enum": list(COLORS)}
    assert rows["maxItems"] == 20 and body["properties"]["level"]["enum"] == ["raw", "engineered"]
    assert set(body["properties"]["target"]["anyOf"][0]["enum"]) >= {"predicted", "all", "low", "mid", "high"}


def test_schemathesis_finds_no_5xx_and_no_valid_request_refused(server: Server) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/docs.json")
    failures: list[str] = []
    for operation in schema.get_all_operations():
        op = operation.ok()
        if op.method.upper() != "POST":
            continue
        strategy = op.as_strategy()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            response = case.call(base_url=server.url, timeout=30)
            if response.status_code >= 500 or response.status_code in (400, 413, 415, 422):
                where = f"{case.method} {case.path}"
                failures.append(
                    f"{where} {response.status_code}: {response.text[:300]} <- {case.body!r:.300}"
                )

        run()
    assert failures == [], "\n".join(sorted(set(failures))[:15])
