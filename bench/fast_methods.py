"""Exact, tree and linear explainers on breast cancer, beside what they replace.

- exact: M=10 (the first ten features) SVC, beside our kernel at a modest budget; exact values
  are their own reference, the kernel's error is measured against them.
- tree: our TreeExplainer against `shap.TreeExplainer` and LightGBM's `pred_contrib` (and
  sklearn's gradient boosting against shap), single rows and a batch.
- linear: our LinearExplainer against the model's own `predict_proba` and `shap.LinearExplainer`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import lightgbm
import numpy as np
import shap
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from bench.common import TimedModel, measure, median_error, progress
from scoring import ExactExplainer, KernelExplainer, LinearExplainer, TreeExplainer

SINGLE_ROWS = 50  # single-row latency: the mean over this many different rows
ROUNDS = 7


@dataclass
class Timing:
    """Seconds per row, single rows and one batch of the test set, and the error vs a reference."""

    name: str
    single: float
    batch: float
    error: float | None = None


def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    return X_train, X_test, y_train


def exact_small(n_rows: int) -> list[tuple[str, float, float, float, float]]:
    """(name, rows/s, evaluations per row, share outside the model, median relative error)."""
    X_train, X_test, y_train = _split()
    X_train, X_test = X_train[:, :10], X_test[:, :10]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = TimedModel(SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(X_train, y_train))
    rows = X_test[:n_rows]
    progress("exact, M=10 SVC")
    exact = ExactExplainer(n_background=10).fit(model, X_train)
    truth = measure("exact", model, lambda: exact.explain(rows).values[:, :, 1], n_rows)
    out = [("exact (bg 10)", truth.rows_per_second, truth.evaluations_per_row, truth.outside_model, 0.0)]
    for budget in (64, 256):
        kernel = KernelExplainer(n_background=10, budget=budget).fit(model, X_train)
        assert np.array_equal(kernel.background_.rows, exact.background_.rows)
        r = measure("kernel", model, partial(_positive, kernel, rows), n_rows)
        err = median_error(r.values, truth.values)
        out.append(
            (
                f"kernel (bg 10, budget {budget})",
                r.rows_per_second,
                r.evaluations_per_row,
                r.outside_model,
                err,
            )
        )
    return out


def _positive(explainer: KernelExplainer, rows: np.ndarray) -> np.ndarray:
    return explainer.explain(rows).values[:, :, 1]


def _timings(candidates: dict[str, Any], X_test: np.ndarray, error: float | None = None) -> list[Timing]:
    """Seconds per row of each candidate, single rows and the whole test set as one batch.

    Candidates are timed in interleaved rounds and each keeps its best round, so that other work
    on the machine, which comes and goes, weighs on all of them alike. `error` goes to the first.
    """
    singles = [X_test[i : i + 1] for i in range(SINGLE_ROWS)]
    best = {name: [np.inf, np.inf] for name in candidates}
    for fn in candidates.values():
        fn(X_test[:1])  # warm caches and lazy imports
    for _ in range(ROUNDS):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for x in singles:
                fn(x)
            middle = time.perf_counter()
            fn(X_test)
            end = time.perf_counter()
            best[name][0] = min(best[name][0], (middle - start) / len(singles))
            best[name][1] = min(best[name][1], (end - middle) / len(X_test))
    return [
        Timing(name, single, batch, error if i == 0 else None)
        for i, (name, (single, batch)) in enumerate(best.items())
    ]


def tree() -> dict[str, list[Timing]]:
    X_train, X_test, y_train = _split()
    out: dict[str, list[Timing]] = {}
    models: dict[str, Any] = {
        "LightGBM (200 trees, 15 leaves)": lightgbm.LGBMClassifier(
            n_estimators=200, num_leaves=15, n_jobs=1, verbose=-1, random_state=0
        ),
        "sklearn GradientBoosting (100 trees, depth 3)": GradientBoostingClassifier(random_state=0),
    }
    for label, model in models.items():
        progress(f"tree: {label}")
        model.fit(X_train, y_train)
        ours = TreeExplainer().fit(model, X_train)
        reference = shap.TreeExplainer(model)
        ref_values = np.asarray(reference.shap_values(X_test))
        ref_values = ref_values[..., 1] if ref_values.ndim == 3 else ref_values
        error = float(np.abs(ours.explain(X_test).values[:, :, 1] - ref_values).max())
        candidates: dict[str, Any] = {
            "ours: TreeExplainer.explain": ours.explain,
            "shap.TreeExplainer.shap_values": reference.shap_values,
        }
        if isinstance(model, lightgbm.LGBMClassifier):
            candidates["LightGBM predict(pred_contrib=True)"] = partial(model.predict, pred_contrib=True)
            margin = partial(model.predict, raw_score=True)
        else:
            margin = model.decision_function
        # TreeExplainer.explain calls the model once more for the explained output (its margin)
        candidates["the model's margin alone (our second call)"] = margin
        timings = _timings(candidates, X_test, error)
        out[label] = timings
    return out


def linear() -> list[Timing]:
    progress("linear: logistic regression on standardized features")
    X_train, X_test, y_train = _split()
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    ours = LinearExplainer().fit(model, X_train)
    # every training row as background (shap's default masker keeps 100), so the means agree
    reference = shap.LinearExplainer(model, shap.maskers.Independent(X_train, max_samples=len(X_train)))
    error = float(np.abs(ours.explain(X_test).values[:, :, 1] - reference.shap_values(X_test)).max())
    candidates = {
        "ours: LinearExplainer.explain": ours.explain,
        "model.predict_proba": model.predict_proba,
        "shap.LinearExplainer.shap_values": reference.shap_values,
    }
    return _timings(candidates, X_test, error)
