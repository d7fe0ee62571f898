"""A new user's own path, end to end, on a fresh model store and from outside the repository:
their CSV (numbers, categories, gaps, 20k rows) or their own training script -> a bundle -> the
Bento of that bundle -> `bentoml serve <bento tag>` with no BUNDLE set, answering rows sent the
way pandas writes them (NaN for gaps), with nulls, omitted nullable keys and unseen categories."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from tests.e2e.server import serve
from tests.tables import user_table

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run(args: list[str], *, home: Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`.venv`'s python, outside the repository, with BENTOML_HOME set and no BUNDLE."""
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLE", "PYTHONPATH")}
    env.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true")
    command = [sys.executable, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _packed_models(home: Path, bento_tag: str) -> list[str]:
    name, version = bento_tag.split(":")
    info = yaml.safe_load((home / "bentos" / name / version / "bento.yaml").read_text())
    return [m["tag"] for s in info["services"] for m in s["models"]]


def _assert_answers_as_the_bundle(
    body: dict[str, Any], text: str, tag: str, rows: list[dict], home: Path
) -> None:
    """Every row answered, additive, finite, and equal to the stored bundle's own explanation."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    from training import load_from_store

    assert "NaN" not in text and "Infinity" not in text
    with BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))):
        bundle = load_from_store(tag)
    frame = bundle.schema.validate(json.loads(json.dumps(rows)))  # the same NaN -> missing reading
    expected = bundle.explain(frame)
    assert body["model"]["name"] == tag.split(":")[0] and len(body["predictions"]) == len(rows)
    assert {item["row"] for item in body["explanations"]} == set(range(len(rows)))
    for item in body["explanations"]:
        # a regressor's one output has no class name
        i, k = item["row"], 0 if item["target"] is None else expected.output_index(item["target"])
        values = {a["feature"]: a["value"] for a in item["attributions"]}
        assert set(values) == set(bundle.schema.names)
        want = dict(zip(expected.feature_names, expected.values[i, :, k], strict=True))
        np.testing.assert_allclose([values[f] for f in want], list(want.values()), atol=1e-9)
        total = item["base_value"] + sum(values.values()) + item["residual"]
        assert math.isclose(total, item["output"], abs_tol=1e-9)


def test_a_csv_of_your_own_to_a_served_bento(tmp_path: Path) -> None:
    home, work = tmp_path / "bentoml", tmp_path / "work"
    work.mkdir()
    table = user_table(20_000, seed=7)
    table.loc[[10, 20, 30], "churned"] = None
    table.to_csv(work / "customers.csv", index=False)

    csv = ["--csv", "customers.csv", "--target", "churned", "--drop-missing-target"]
    done = _run(["-m", "training", *csv, "--quiet"], home=home, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "3 rows without a target left out" in out and "chosen: a tree model: TreeSHAP" in out, out
    tag = re.search(r"bundle\s+(customers_churned_hist_gradient_boosting:\w+)", out)
    bento = re.search(r"bento\s+(explained_model:\w+)", out)
    assert tag is not None and bento is not None, out
    assert f"bentoml serve {bento.group(1)}" in out
    assert _packed_models(home, bento.group(1)) == [tag.group(1)]  # that bundle, not the default
    assert not (home / "models" / "breast_cancer_svc").exists()

    features = table.drop(columns="churned")
    rows = json.loads(features.iloc[:40].to_json(orient="records"))  # gaps as null
    records = features.iloc[40:60].to_dict("records")  # gaps as NaN, as json.dumps writes them
    records[0]["region"] = "atlantis"  # unseen category
    records[1]["plan"] = "platinum"
    del records[2]["num_2"]  # an omitted nullable key
    with serve(home, None, target=bento.group(1), cwd=work) as server:
        text = json.dumps({"rows": rows + records, "target": "all"})  # NaN literals included
        r = httpx.post(server.url + "/predict", content=text, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        _assert_answers_as_the_bundle(r.json(), r.text, tag.group(1), rows + records, home)
        meta = httpx.post(server.url + "/metadata", json={}).json()
        nullable = {f["name"]: f["nullable"] for f in meta["schema"]["features"]}
        assert all(nullable.values()), nullable  # HGB takes NaN in every column
        bad = httpx.post(server.url + "/predict", json={"rows": [{**rows[0], "calls": "many"}]})
        assert bad.status_code == 400 and bad.json()["field"] == "calls"


SCRIPT = """
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

import training

rng = np.random.default_rng(0)
n = 1500
X = pd.DataFrame({"area": rng.normal(80, 20, n), "rooms": rng.integers(1, 7, n).astype(float),
                  "age": rng.normal(30, 10, n)})
X.loc[rng.random(n) < 0.1, "age"] = np.nan
y = 2.0 * X["area"] + 10 * X["rooms"] - 0.5 * X["age"].fillna(30) + rng.normal(0, 5, n)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = HistGradientBoostingRegressor(max_iter=50).fit(X_train, y_train)
saved = training.save_model("house_prices", model, X_train, X_eval=X_test, y_eval=y_test, progress=False)
print("BUNDLE", saved.tag)
print("BENTO", training.build_bento(saved.tag))
"""


def test_your_own_training_script_outside_the_repository(tmp_path: Path) -> None:
    home, work = tmp_path / "bentoml", tmp_path / "work"
    work.mkdir()
    (work / "train_mine.py").write_text(textwrap.dedent(SCRIPT))
    done = _run(["train_mine.py"], home=home, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    tag = re.search(r"^BUNDLE (\S+)$", done.stdout, re.M)
    bento = re.search(r"^BENTO (\S+)$", done.stdout, re.M)
    assert tag is not None and bento is not None, done.stdout
    assert _packed_models(home, bento.group(1)) == [tag.group(1)]
    rows = [{"area": 75.0, "rooms": 3.0, "age": float("nan")}, {"area": 120.5, "rooms": 5.0}]
    with serve(home, None, target=bento.group(1), cwd=work) as server:
        text = json.dumps({"rows": rows})
        r = httpx.post(server.url + "/predict", content=text, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        _assert_answers_as_the_bundle(r.json(), r.text, tag.group(1), rows, home)
        assert r.json()["explanations"][0]["method"] == "tree"

    # the Bento's bundle gone from the store: bentoml serve stops at once, naming it
    name, version = tag.group(1).split(":")
    (home / "models" / name / version).rename(tmp_path / "moved")
    env = {k: v for k, v in os.environ.items() if k != "BUNDLE"}
    env.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true")
    command = [str(Path(sys.executable).parent / "bentoml"), "serve", bento.group(1), "--port", "0"]
    gone = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and f"bundle {tag.group(1)} is not in the model store" in gone.stderr
