"""The request guard in front of the JSON API routes: 413, 415 and 400 before BentoML parses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from service.limits import RequestGuard

LIMIT = 1000


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"length": len(body), "body": json.loads(body or b"{}")})


async def raw(request: Request) -> JSONResponse:
    return JSONResponse({"length": len(await request.body())})


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = Starlette(
        routes=[
            Route("/predict", echo, methods=["POST"]),
            Route("/other", echo, methods=["POST", "GET"]),
            Route("/raw", raw, methods=["POST"]),
        ]
    )
    guarded = RequestGuard(app, max_body_bytes=LIMIT, routes={"/predict": ["rows", "top_k"]})
    with TestClient(guarded) as c:
        yield c


def error(response, status: int, field: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["field"] == field and response.json()["row"] is None


def test_good_body_is_replayed_to_the_app(client: TestClient) -> None:
    r = client.post("/predict", json={"rows": [1, 2], "top_k": 1})
    assert r.status_code == 200 and r.json()["body"] == {"rows": [1, 2], "top_k": 1}


def test_empty_body_passes(client: TestClient) -> None:
    assert client.post("/predict").status_code == 200


def test_too_large_by_header_and_by_stream(client: TestClient) -> None:
    error(client.post("/predict", content=b"x" * (LIMIT + 1)), 413)
    assert client.post("/predict", content=json.dumps({"rows": "y" * (LIMIT - 20)})).status_code == 200

    def stream() -> Iterator[bytes]:
        for _ in range(LIMIT // 100 + 1):
            yield b" " * 100

    error(client.post("/predict", content=stream()), 413)


def test_media_type(client: TestClient) -> None:
    error(client.post("/predict", content=b"{}", headers={"content-type": "text/csv"}), 415)
    ok = client.post("/predict", content=b"{}", headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


@pytest.mark.parametrize("content", [b"{", b"nul", b"[1]", b"3", b'"x"', b"\xff", b"[" * 900])
def test_not_a_json_object(client: TestClient, content: bytes) -> None:
    error(client.post("/predict", content=content, headers={"content-type": "application/json"}), 400)


def test_unknown_key_is_named(client: TestClient) -> None:
    error(client.post("/predict", json={"rows": [], "topk": 2}), 400, "topk")


def test_invalid_content_length(client: TestClient) -> None:
    error(client.post("/predict", content=b"{}", headers={"content-length": "abc"}), 400)


def test_other_routes_and_methods_are_untouched(client: TestClient) -> None:
    big = client.post("/raw", content=b"x" * (LIMIT + 10), headers={"content-type": "text/plain"})
    assert big.status_code == 200 and big.json()["length"] == LIMIT + 10
    assert client.get("/other").status_code == 200
    assert client.post("/other", json={"anything": 1}).json()["body"] == {"anything": 1}
