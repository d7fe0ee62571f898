"""Bearer tokens and the dashboard switch, on a small Starlette app behind `BearerAuth`."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from service.auth import BearerAuth, tokens_from
from service.config import Settings

TOKEN = "t0k3n-abcdefghijklmnop"
OTHER = "second-token-0123456789"


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


PATHS = ["/predict", "/metadata", "/docs.json", "/livez", "/metrics", "/dashboard/", "/dashboard/data"]
APP = Starlette(routes=[Route(p, ok, methods=["GET", "POST"]) for p in PATHS])


def client(**options: object) -> TestClient:
    settings = {"tokens": (TOKEN, OTHER), "protect_health": False, "dashboard": True, **options}
    return TestClient(BearerAuth(APP, **settings))  # type: ignore[arg-type]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/predict", "/metadata", "/docs.json", "/dashboard/", "/dashboard/data"])
def test_the_token_check_refuses_and_passes(path: str) -> None:
    c = client()
    for headers in ({}, bearer("wrong-token-but-long-enough"), {"Authorization": TOKEN}, bearer("")):
        r = c.post(path, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", headers
        assert r.json()["error"].startswith("authentication required")
    assert c.post(path, headers=bearer(TOKEN)).status_code == 200
    assert c.post(path, headers=bearer(OTHER)).status_code == 200


def test_health_and_metrics_are_open_unless_asked() -> None:
    assert client().get("/livez").status_code == 200 and client().get("/metrics").status_code == 200
    guarded = client(protect_health=True)
    assert (
        guarded.get("/livez").status_code == 401
        and guarded.get("/metrics", headers=bearer(TOKEN)).status_code == 200
    )


def test_the_dashboard_can_be_turned_off() -> None:
    off = client(tokens=(), dashboard=False)
    assert off.get("/dashboard/").status_code == 404 and off.get("/dashboard/data").status_code == 404
    assert off.post("/predict").status_code == 200  # no tokens: nothing else is checked


def test_tokens_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert tokens_from({}) == ()
    assert tokens_from({"API_TOKENS": f"{TOKEN}, {OTHER}"}) == (TOKEN, OTHER)
    (tmp_path / "tokens").write_text(f"{TOKEN}\n\n{OTHER}\n")
    assert tokens_from({"API_TOKENS_FILE": str(tmp_path / "tokens")}) == (TOKEN, OTHER)
    with pytest.raises(ValueError, match="at least 16"):
        tokens_from({"API_TOKENS": "short"})
    with pytest.raises(ValueError, match="not both"):
        tokens_from({"API_TOKENS": TOKEN, "API_TOKENS_FILE": str(tmp_path / "tokens")})
    settings = Settings.from_env({"API_TOKENS": TOKEN, "AUTH_HEALTH": "true", "DASHBOARD": "false"})
    assert settings.api_tokens == (TOKEN,) and settings.auth_health and not settings.dashboard
    assert TOKEN not in repr(settings)
