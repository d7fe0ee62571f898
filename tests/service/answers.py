"""Answers of the served bundle to a fixed set of requests, for every explainer method: bundles
trained by the real training code on a user's table, stored, served in process, asked the same
requests. `answers.json` beside this file holds them as the code gave them when it was written;
`test_answers.py` checks today's code gives them bit for bit.

    python -m tests.service.answers --write     # regenerate answers.json (a deliberate change)
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

FIXTURE = Path(__file__).with_name("answers.json")

# (case, model family, task, explainer)
CASES = (
    ("linear", "logistic", "classification", "auto"),
    ("tree", "hist_gradient_boosting", "classification", "auto"),
    ("exact", "svc", "classification", "auto"),
    ("kernel", "svc", "classification", "kernel"),
    ("amortized", "svc", "classification", "amortized"),
    ("regression", "linear", "regression", "auto"),
    # a bare model fitted on an all-number frame (as the default bundle): rows reach it as arrays
    ("numeric", "svc", "classification", "auto"),
)


def _table(case: str = "") -> tuple[pd.DataFrame, pd.Series]:
    if case == "numeric":  # eight columns of the breast-cancer data, as the default bundle's
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer(as_frame=True)
        X = data.data.iloc[::2, :8].reset_index(drop=True)
        return X, data.target.iloc[::2].reset_index(drop=True).map({0: "malignant", 1: "benign"})
    from tests.tables import user_table

    table = user_table(300, n_numbers=3, seed=11)
    return table, table.pop("churned")


def requests(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The fixed requests: several rows with gaps, all targets, top_k, engineered level, no
    explanation, and a row outside what training saw (an unseen category, a value beyond range)."""
    rows = json.loads(table.iloc[:6].to_json(orient="records"))
    if "region" in rows[0]:
        odd = dict(rows[0], region="atlantis", num_1=1e4)
    else:  # numbers only: the first one far beyond its range
        first = next(iter(rows[0]))
        odd = dict(rows[0], **{first: rows[0][first] * 100})
    return [
        {"rows": rows},
        {"rows": rows[:3], "target": "all", "top_k": 2},
        {"rows": rows[3:], "level": "engineered"},
        {"rows": rows[:2], "explain": False},
        {"rows": [rows[1]]},
        {"rows": [odd, rows[2]], "target": "all"},
    ]


def store_case(case: str, family: str, task: str, explainer: str) -> str:
    """Train, bundle with the real writer and store the case's bundle; its tag."""
    from training import save_model
    from training.models import make_model

    table, y = _table(case)
    if task == "regression":
        y = table["calls"] * 1.5 + np.nan_to_num(table["num_1"].to_numpy())
        table = table.drop(columns="calls")
    model = make_model(family, table, task=task, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SVC(probability=True)'s FutureWarning; MLP convergence
        model.fit(table, y)
        saved = save_model(
            f"answers_{case}",
            model,
            table,
            X_eval=table.iloc[:40],
            y_eval=y.iloc[:40],
            target="churned" if task == "classification" else "value",
            explainer=explainer,
            # only the options the method takes (others are errors); `auto` passes each on
            fit_evaluations=None if explainer == "kernel" else 30_000,
            budget=None if explainer == "amortized" else 64,
            n_background=None if explainer == "amortized" else 5,
            fidelity_rows=2,
            sample_rows=10,
            progress=False,
        )
    return str(saved.tag)


@contextmanager
def without_default_refinement() -> Iterator[None]:
    """The default refinement spends wall-clock time per row, so what it buys varies between
    runs; the answers are compared with it off."""
    import service.service as served

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(served, "SETTINGS", replace(served.SETTINGS, refine_max_ms=0.0))
        yield


def answers() -> dict[str, Any]:
    """{case: [response bodies]}, the bundle's version left out (it differs per store)."""
    from tests.service.service_client import serve_in_process

    out: dict[str, Any] = {}
    for case, family, task, explainer in CASES:
        table, _ = _table(case)
        tag = store_case(case, family, task, explainer)
        cols = table if task == "classification" else table.drop(columns="calls")
        with without_default_refinement(), serve_in_process(tag) as client:
            bodies = []
            for request in requests(cols):
                response = client.post("/predict", json=request)
                body = response.json()
                body.pop("model", None)
                bodies.append({"status": response.status_code, "body": body})
        out[case] = bodies
    return out


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where two answers differ (floats compared exactly: the same code gives the same bits)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = (
            [f"{where}: keys {sorted(expected)} != {sorted(actual)}"] if set(expected) != set(actual) else []
        )
        for key in expected.keys() & actual.keys():
            found += differences(expected[key], actual[key], f"{where}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items != {len(actual)}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in differences(e, a, f"{where}[{i}]")
        ]
    same = expected == actual or (
        isinstance(expected, float)
        and isinstance(actual, float)
        and math.isnan(expected)
        and math.isnan(actual)
    )
    return [] if same else [f"{where}: {expected!r} != {actual!r}"]


def _main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help=f"write {FIXTURE.name}")
    args = parser.parse_args()
    import tempfile

    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    with tempfile.TemporaryDirectory() as home:
        with BentoMLContainer.model_store.patch(ModelStore(home)):
            found = answers()
    if args.write:
        FIXTURE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FIXTURE}")
    else:
        expected = json.loads(FIXTURE.read_text())
        diff = differences(expected, found)
        print("\n".join(diff[:20]) if diff else "answers identical")


if __name__ == "__main__":
    _main()
