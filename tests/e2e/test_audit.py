"""The sampled audit under a real `bentoml serve` (AUDIT_FRACTION=1): every explained row is
audited in the background, and the running error shows on /metrics and in /metadata."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.e2e.server import Server, serve, store_bundle_in
from tests.service.bundles import amortized_bundle, rows_of

pytestmark = pytest.mark.e2e

ROWS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("bentoml_home")
    tag, _ = store_bundle_in(home, "e2e_amortized", amortized_bundle())
    env = {"AUDIT_FRACTION": "1", "AUDIT_EVALUATIONS": "2000", "AUDIT_MAX_PENDING": "100"}
    with serve(home, tag, env=env) as running:
        yield running


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def test_served_rows_are_audited_and_the_error_is_on_metrics(server: Server) -> None:
    rng = np.random.default_rng(5)
    rows = rows_of(pd.DataFrame(rng.normal(size=(ROWS, 6)), columns=[f"f{j}" for j in range(6)]))
    for start in range(0, ROWS, 4):
        response = httpx.post(server.url + "/predict", json={"rows": rows[start : start + 4]}, timeout=60)
        assert response.status_code == 200, response.text
        for item in response.json()["explanations"]:
            assert item["method"] == "amortized" and item["error"] > 0
    assert httpx.post(server.url + "/predict", json={"rows": rows[:2], "explain": False}).status_code == 200

    deadline = time.monotonic() + 90
    audit: dict = {}
    while time.monotonic() < deadline:
        audit = httpx.post(server.url + "/metadata", json={}, timeout=30).json()["explainer"]["audit"]
        if audit["audited_rows"] >= ROWS:
            break
        time.sleep(0.5)
    assert audit["enabled"] and audit["audited_rows"] == ROWS, audit  # rows not explained are not audited
    assert audit["dropped_rows"] == audit["failed_rows"] == 0
    assert 0 < audit["median_rel_l2"] < 2 and audit["expected_median_rel_l2"] is not None

    text = httpx.get(server.url + "/metrics", timeout=30).text
    assert metric(text, "explained_model_audit_rows_total") == ROWS
    assert metric(text, "explained_model_audit_relative_error_count") == ROWS
    median = metric(text, "explained_model_audit_median_relative_error")
    assert median == pytest.approx(audit["median_rel_l2"], rel=1e-6)
    expected = metric(text, "explained_model_audit_expected_relative_error")
    assert expected == pytest.approx(audit["expected_median_rel_l2"], rel=1e-6)
