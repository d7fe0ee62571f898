"""The notebook dashboard's server, in this process: the served dashboard's page and data for
the given explanation, what-if and ICE answered by the model in this process, and a
frame-ancestors that lets a notebook page show it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from scoring.compat import TabularExplainer
from service.dashboard.notebook import ExplanationDashboard


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def dashboard():
    data = load_iris()
    features = [n.replace(" (cm)", "").replace(" ", "_") for n in data.feature_names]
    model = LogisticRegression(max_iter=500).fit(data.data[:120], data.target[:120])
    explainer = TabularExplainer(model, data.data[:120], features=features, classes=list(data.target_names))
    explanation = explainer.explain_global(data.data[120:])
    board = ExplanationDashboard(
        explanation, model, dataset=data.data[120:], true_y=data.target[120:], show=False
    )
    yield board, model, explanation, features
    board.stop()


def test_page_data_and_frame_ancestors(dashboard):
    board, _, explanation, features = dashboard
    assert board.url.startswith("http://127.0.0.1:")
    status, headers, page = _get(board.url)
    assert status == 200 and b"<html" in page.lower()
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'self' http://localhost:* http://127.0.0.1:*" in csp
    _, _, raw = _get(board.url + "data")
    doc = json.loads(raw)
    assert [f["name"] for f in doc["model"]["features"]] == features
    sample = doc["sample"]
    assert sample["n_rows"] == 30
    # the page shows the explanation's own values for the given rows
    shown = np.array(sample["explanations"]["raw"]["values"], dtype=float)
    assert np.allclose(shown, explanation.explanation.values, atol=1e-6)
    assert "<iframe" in board._repr_html_() and board.url in board._repr_html_()


def test_what_if_and_ice_call_the_model_in_this_process(dashboard):
    board, model, _, features = dashboard
    row = dict(zip(features, [5.0, 3.1, 4.2, 1.1], strict=True))
    status, answer = _post(board.url.replace("/dashboard/", "/predict"), {"rows": [row], "explain": True})
    assert status == 200
    proba = model.predict_proba(np.array([list(row.values())]))[0]
    assert [answer["probabilities"][0][c] for c in ("setosa", "versicolor", "virginica")] == pytest.approx(
        proba
    )
    item = answer["explanations"][0]
    assert item["base_value"] + sum(a["value"] for a in item["attributions"]) == pytest.approx(item["output"])
    grid = [dict(row, petal_length=float(v)) for v in np.linspace(1, 7, 25)]
    status, ice = _post(board.url.replace("/dashboard/", "/predict"), {"rows": grid, "explain": False})
    assert status == 200 and len(ice["predictions"]) == 25 and ice["explanations"] is None
    status, bad = _post(board.url.replace("/dashboard/", "/predict"), {"rows": [{"sepal_length": "x"}]})
    assert status == 400 and bad["error"]


def test_explanations_render_in_a_notebook(dashboard):
    _, _, explanation, _ = dashboard
    html = explanation._repr_html_()
    assert "GlobalExplanation" in html and "petal" in html and "shap.linear" in html
