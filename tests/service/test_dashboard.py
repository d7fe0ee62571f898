"""The dashboard app in-process: its page, its assets (all local) and GET /data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from scoring.bundle import Bundle
from service.dashboard.app import CSP, STATIC, DashboardSource, build_dashboard_app
from tests.service.dashboard_bundles import CLASS_NAMES, save_sample_bundle


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, Path]:
    return save_sample_bundle(tmp_path_factory.mktemp("bundle"), n_eval=300, max_rows=200)


def client_for(bundle: Bundle, path: Path, calls: list[int] | None = None) -> TestClient:
    def source() -> DashboardSource:
        if calls is not None:
            calls.append(1)
        return DashboardSource(bundle=bundle, path=path, name="churn:v1")

    app = Starlette(routes=[Mount("/dashboard", app=build_dashboard_app(source))])
    return TestClient(app)


def test_page_is_served_with_a_strict_content_policy(saved: tuple[Bundle, Path]) -> None:
    with client_for(*saved) as client:
        page = client.get("/dashboard/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP
        assert "approximations" in page.text and "not causes" in page.text
        # without the trailing slash the page's relative links would break: redirect
        bare = client.get("/dashboard", follow_redirects=False)
        assert bare.status_code == 307 and bare.headers["location"].endswith("/dashboard/")


def test_every_asset_the_page_names_is_served_locally(saved: tuple[Bundle, Path]) -> None:
    with client_for(*saved) as client:
        html = client.get("/dashboard/").text
        assets = re.findall(r'(?:src|href)="(static/[^"]+)"', html)
        assert {"static/app.js", "static/style.css"} <= set(assets)
        modules = set()
        for js in STATIC.glob("*.js"):
            modules.update(re.findall(r'from "\./([^"]+)"', js.read_text()))
        for asset in [*assets, *(f"static/{m}" for m in modules)]:
            response = client.get(f"/dashboard/{asset}")
            assert response.status_code == 200, asset
        assert "javascript" in client.get("/dashboard/static/app.js").headers["content-type"]


def test_assets_reach_for_nothing_beyond_the_service() -> None:
    for file in STATIC.iterdir():
        text = file.read_text()
        assert not re.search(r"https?://|//cdn|@import|fonts\.", text), (
            f"{file.name} names an outside resource"
        )


def test_data_holds_the_model_the_report_and_the_sample(saved: tuple[Bundle, Path]) -> None:
    bundle, path = saved
    with client_for(bundle, path) as client:
        response = client.get("/dashboard/data")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = json.loads(response.content)
    model = data["model"]
    assert model["name"] == "churn:v1"
    assert (model["task"], model["target"], model["classes"]) == (
        "classification",
        "churn",
        list(CLASS_NAMES),
    )
    assert [f["name"] for f in model["features"]] == list(bundle.schema.names)
    assert model["levels"] == ["raw", "engineered"]
    assert (model["method"], model["space"]) == ("linear", "log_odds")
    assert data["report"] == bundle.report.to_json()
    assert data["report"]["metrics_on"] == "evaluation frame" and "accuracy" in data["report"]["metrics"]
    sample = data["sample"]
    assert sample["omitted"] is None and sample["n_rows"] == 200 and sample["n_source_rows"] == 300
    assert set(sample["y_pred"]) <= set(CLASS_NAMES)
    assert len(sample["explanations"]["raw"]["values"]) == 200
    assert sample["explanations"]["raw"]["feature_names"] == list(bundle.schema.names)


def test_data_is_built_once_and_compressed(saved: tuple[Bundle, Path]) -> None:
    calls: list[int] = []
    with client_for(*saved, calls=calls) as client:
        client.get("/dashboard/")  # starts building the data in the background
        first = client.get("/dashboard/data", headers={"Accept-Encoding": "gzip"})
        second = client.get("/dashboard/data", headers={"Accept-Encoding": "identity"})
    assert first.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in second.headers
    assert first.content == second.content  # httpx decodes the gzipped one
    assert len(calls) == 1


def test_an_omitted_sample_says_why(tmp_path: Path) -> None:
    bundle, path = save_sample_bundle(tmp_path, omit="customer records may not leave the bank")
    with client_for(bundle, path) as client:
        data = client.get("/dashboard/data").json()
    assert data["sample"] == {"format_version": 1, "omitted": "customer records may not leave the bank"}
    assert data["model"]["features"]  # the schema still drives what-if and ICE
