"""Authentication on a real `bentoml serve`: with API_TOKENS every API route needs the bearer
token, health stays open, and DASHBOARD=false turns the dashboard and its data off."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import Server, serve, store_bundle_in
from tests.service.bundles import logistic_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "e2e-token-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("auth_home")
    tag, _ = store_bundle_in(home, "auth_logistic", logistic_bundle(n_features=3))
    with serve(home, tag, env={"API_TOKENS": TOKEN, "DASHBOARD": "false"}) as s:
        yield s


def test_the_token_check_passes_and_refuses(server: Server) -> None:
    row = {"rows": [{"x0": 0.1, "x1": 0.2, "x2": 0.3}]}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/predict", json=row).status_code == 401
        assert (
            c.post("/predict", json=row, headers={"Authorization": "Bearer nope-nope-nope-nope"}).status_code
            == 401
        )
        assert c.post("/predict", json=row, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.post("/metadata").status_code == 401 and c.get("/docs.json").status_code == 401
        assert c.get("/livez").status_code == 200 and c.get("/readyz").status_code == 200
        assert c.get("/metrics").status_code == 200
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/dashboard/data", headers=auth).status_code == 404
        assert c.get("/dashboard/", headers=auth).status_code == 404
