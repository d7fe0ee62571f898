"""Response bodies as plain JSON-ready dicts, built from the engine's results.

Kept out of the service class so tests can call them directly. Every explanation item keeps the
contract `base_value + sum(attribution values) + residual == output`, with or without `top_k`
(the "(other)" entry holds the sum of the attributions left out).
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import numpy as np

from scoring.bundle import Prediction
from scoring.description import Description
from scoring.errors import ValidationError
from scoring.explainers import ScoringExplainer
from scoring.explanation import Explanation, Level
from scoring.refine import DEFAULT_FACTOR, can_refine, typical_error
from scoring.report import Importance
from service.config import Settings
from service.limits import error_body
from service.outputs import Outputs
from service.requests import MAX_MS_PER_ROW, ExplainOptions, TargetKind

SERVING_LIBRARIES = ("bentoml", "scikit-learn", "numpy", "pandas", "shap", "skops", "lightgbm", "xgboost")


def validation_error_body(error: ValidationError) -> dict[str, Any]:
    """The error body of a rejected request: a message naming the row and field, and both."""
    if error.row is not None:
        message = str(error)  # "row 3, feature 'age', expected a finite number, got 'abc'"
    elif error.field is not None:
        message = f"'{error.field}': {error.message}"  # a request field such as 'rows' or 'top_k'
    else:
        message = error.message
    return error_body(message, row=error.row, field=error.field)


def model_body(name: str, version: str) -> dict[str, str]:
    return {"name": name, "version": version}


def predict_body(
    model: Mapping[str, str],
    outputs: Outputs,
    prediction: Prediction,
    explanation: Explanation | None,
    options: ExplainOptions,
) -> dict[str, Any]:
    """`{"model", "predictions", "probabilities", "explanations"}` for one request's rows.

    `probabilities` is null unless the model gives class probabilities; `explanations` is null
    when the request asked for none.
    """
    probabilities = None
    if prediction.probabilities is not None:
        names = outputs.names
        probabilities = [dict(zip(names, row, strict=True)) for row in prediction.probabilities.tolist()]
    return {
        "model": dict(model),
        "predictions": outputs.classes(prediction.labels),
        "probabilities": probabilities,
        "explanations": None
        if explanation is None
        else explanation_items(explanation, outputs, prediction, options),
    }


def explained_outputs(
    explanation: Explanation, outputs: Outputs, prediction: Prediction, options: ExplainOptions
) -> list[tuple[int, int]]:
    """(row, output) pairs to answer with, ordered by row, then output."""
    n, k_total = explanation.n_rows, explanation.n_outputs
    kind = options.target.kind
    if kind is TargetKind.ALL or (kind is TargetKind.PREDICTED and not outputs.classify):
        return [(i, k) for i in range(n) for k in range(k_total)]
    if kind is TargetKind.OUTPUT:
        assert options.target.index is not None
        return [(i, options.target.index) for i in range(n)]
    predicted = outputs.index(prediction.labels)
    unknown = predicted < 0
    if unknown.any():  # a label outside classes_ cannot happen with scikit-learn; fall back to argmax
        scores = prediction.probabilities if prediction.probabilities is not None else explanation.outputs
        predicted = np.where(unknown, np.argmax(scores, axis=1), predicted)
    return [(i, int(k)) for i, k in enumerate(predicted.tolist())]


def explanation_items(
    explanation: Explanation, outputs: Outputs, prediction: Prediction, options: ExplainOptions
) -> list[dict[str, Any]]:
    """One item per explained (row, output); attributions sorted by |value|, largest first, with
    "(other)" holding the rest under `top_k` (`Explanation.attributions`)."""
    pairs = explained_outputs(explanation, outputs, prediction, options)
    ranked = explanation.attributions(pairs, options.top_k)
    base = explanation.base_values.tolist()
    out = explanation.outputs.tolist()
    residual = explanation.residual.tolist()
    error = None if explanation.error is None else explanation.error.tolist()
    evaluations = None if explanation.evaluations is None else explanation.evaluations.tolist()
    outside = explanation.outside_lists()
    items = []
    for (i, k), attributions in zip(pairs, ranked, strict=True):
        items.append(
            {
                "row": i,
                "target": outputs.names[k] if outputs.classify else None,
                "space": str(explanation.space),
                "method": str(explanation.method),
                "level": str(explanation.level),
                "base_value": base[k],
                "output": out[i][k],
                "residual": residual[i][k],
                "error": None if error is None else error[i][k],
                "outside": list(outside[i]),
                "evaluations": None if evaluations is None else evaluations[i],
                "attributions": [{"feature": f, "value": v} for f, v in attributions],
            }
        )
    return items


def global_importance_body(
    model: Mapping[str, str], description: Description, level: Level | None = None
) -> dict[str, Any]:
    """The report's global importance, per level (those the report holds of the bundle's, or
    `level`): features sorted by mean |attribution|."""
    report = description.report
    levels = [level] if level is not None else list(description.levels)
    body = {
        str(lv): _importance_level(report.global_importance[str(lv)])
        for lv in levels
        if str(lv) in report.global_importance
    }
    return {"model": dict(model), "source": report.global_importance_rows, "levels": body}


def _importance_level(entry: Importance) -> dict[str, Any]:
    """One level of the report's global importance as a ranked list."""
    items = []
    for j in entry.order():
        items.append(
            {
                "feature": entry.feature_names[j],
                "value": entry.mean_abs_overall[j],
                "outputs": dict(zip(entry.output_names, entry.mean_abs[j], strict=True)),
            }
        )
    return {
        "rows": entry.rows,
        "space": entry.space,
        "measure": "mean |attribution| over rows (and over outputs for 'value')",
        "features": items,
    }


def metadata_body(
    model: Mapping[str, str],
    description: Description,
    explainer: ScoringExplainer,
    settings: Settings,
    audit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What is served: schema, classes, task, explainer, its fidelity (at fit time, and the running
    audit's when it runs), metrics and versions."""
    report = description.report
    fidelity = None if report.fidelity is None else report.to_json()["fidelity"]
    refinable = can_refine(explainer)
    return {
        "model": dict(model),
        "task": description.task,
        "target": description.target,
        "classes": list(description.classes),
        "class_labels": list(description.class_labels),
        "model_class": description.model_class,
        "schema": description.schema.to_json(),
        "levels": [str(lv) for lv in description.levels],
        "explainer": {
            "method": description.method,
            "space": description.space,
            "outputs": list(description.outputs),
            "params": dict(description.params),
            "explains": description.explains,
            "fidelity": fidelity,
            "chosen_because": report.explainer.chosen_because,
            "audit": dict(audit) if audit is not None else None,
        },
        "metrics": dict(report.metrics),
        "metrics_on": report.metrics_on,
        "versions": {
            "bundle_format": description.format_version,
            "trained_with": dict(description.trained_with),
            "serving": {"python": platform.python_version(), **dict(installed_versions())},
        },
        "limits": {"max_rows": settings.max_rows, "max_body_bytes": settings.max_body_bytes},
        "validation": {
            "reject_beyond_range": settings.reject_beyond_range,
            "rejects": None
            if settings.reject_beyond_range is None
            else f"numbers more than {settings.reject_beyond_range:g}x their training range beyond it "
            "(400 naming the row and field)",
        },
        "refinement": {
            "available": refinable,
            "default_max_ms_per_row": settings.refine_max_ms if refinable else 0.0,
            "max_ms_per_row": MAX_MS_PER_ROW,
            "typical_error": typical_error(explainer),
            "refines_by_default": "rows with a feature outside what training saw, or a stated error "
            f"above {DEFAULT_FACTOR:g}x the typical (fit-time median) error",
        },
    }


@functools.cache
def installed_versions(libraries: tuple[str, ...] = SERVING_LIBRARIES) -> dict[str, str]:
    """Versions of the serving libraries (read once: importlib.metadata scans the environment)."""
    versions = {}
    for lib in libraries:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions
