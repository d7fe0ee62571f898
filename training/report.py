"""What the report says about a bundle: test metrics, global importance, the explainer's fidelity
against a high-accuracy reference, and the global-importance plot."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics
from tqdm.auto import tqdm

from scoring import Explanation, Method
from scoring.explainers import ScoringExplainer, make_explainer
from scoring.fidelity import relative_l2
from scoring.report import Fidelity, Importance

# methods whose values are exact for what they explain: no reference needed
EXACT_METHODS = {
    Method.LINEAR: "exact: closed-form interventional SHAP of the linear model",
    Method.TREE: "exact: TreeSHAP of the tree model",
    Method.EXACT: "exact for the stored background: every coalition enumerated",
}
# methods that explain a row in about the time of a prediction
FAST_METHODS = (Method.LINEAR, Method.TREE, Method.AMORTIZED)
CHUNK = 10  # rows per explain call, so progress bars move
# rows for global importance when the method is costly per row (sampled or enumerating)
COSTLY_METHOD_ROWS = 50
# the fidelity reference has this many times the served explainer's budget and background
REFERENCE_SCALE = 2
DEFAULT_BUDGET, DEFAULT_BACKGROUND = 512, 20  # for explainers that do not say


def importance_rows(method: Method, n_rows: int, requested: int | None) -> int:
    """How many rows global importance is computed on: all for the fast methods (linear, tree,
    amortized), at most COSTLY_METHOD_ROWS for the others, unless `requested`."""
    if requested is not None:
        return min(requested, n_rows)
    if method in FAST_METHODS:
        return n_rows
    return min(COSTLY_METHOD_ROWS, n_rows)


def classification_metrics(y: pd.Series, labels: np.ndarray, proba: np.ndarray | None, classes: Any) -> dict:
    out = {
        "accuracy": metrics.accuracy_score(y, labels),
        "balanced_accuracy": metrics.balanced_accuracy_score(y, labels),
        "f1_macro": metrics.f1_score(y, labels, average="macro"),
    }
    if proba is not None and len(np.unique(y)) > 1:
        classes = list(classes)
        if len(classes) == 2:
            out["roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
        elif set(np.unique(y)) == set(classes):
            out["roc_auc_ovr"] = metrics.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        out["log_loss"] = metrics.log_loss(y, proba, labels=classes)
    return {k: float(v) for k, v in out.items()}


def regression_metrics(y: pd.Series, predicted: np.ndarray) -> dict:
    return {
        "r2": float(metrics.r2_score(y, predicted)),
        "mae": float(metrics.mean_absolute_error(y, predicted)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted))),
    }


def explain_in_chunks(
    explain: Callable[[Any], Explanation], X: Any, *, desc: str, progress: bool
) -> list[Explanation]:
    """Explanations of `X` in chunks of CHUNK rows, with a progress bar."""
    n = len(X)
    parts = []
    with tqdm(total=n, desc=desc, unit="row", disable=not progress, leave=False) as bar:
        for start in range(0, n, CHUNK):
            chunk = X[start : start + CHUNK]
            parts.append(explain(chunk))
            bar.update(len(chunk))
    return parts


def stack(parts: list[Explanation]) -> Explanation:
    """One explanation of all rows of several (same features, outputs and method): every per-row
    array field (values, outputs, stderr, data, flags, ...) is concatenated."""
    from dataclasses import fields, replace

    first = parts[0]
    n = first.n_rows
    per_row = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        for f in fields(first)
        if isinstance(getattr(first, f.name), np.ndarray)
        and getattr(first, f.name).shape[:1] == (n,)
        and f.name != "base_values"
    }
    return replace(first, **per_row)


def global_importance(explanation: Explanation) -> Importance:
    """Mean |value| per feature and per output over the explained rows, plus the mean over outputs."""
    per_output = np.abs(explanation.values).mean(axis=0)  # (M, K)
    return Importance(
        rows=explanation.n_rows,
        space=str(explanation.space),
        feature_names=tuple(explanation.feature_names),
        output_names=tuple(explanation.output_names),
        mean_abs=tuple(tuple(row) for row in per_output.tolist()),
        mean_abs_overall=tuple(per_output.mean(axis=1).tolist()),
        max_abs_residual=float(np.max(np.abs(explanation.residual))),
    )


def fidelity(
    explainer: ScoringExplainer,
    target: Any,
    X_fit: Any,
    X_rows: Any,
    *,
    served: Explanation,
    class_names: Any,
    seed: int,
    progress: bool,
    measured: dict[str, Any] | None = None,
) -> Fidelity:
    """How close the served explainer is to a high-accuracy reference.

    Exact methods say so. When the amortized explainer `measured` itself and kernel at fit time
    (held-out rows against exact values or a 2-seed permutation reference), those figures are the
    answer, for whichever of the two is served. Otherwise, sampled methods are compared on
    `X_rows` with a kernel explainer of twice the budget over twice the background rows: the
    median, over rows, of ||values - reference|| / ||reference|| (L2 over features and outputs).
    That reference costs 4x the served explainer per row, so `X_rows` should be a few rows (10-20).
    """
    method = Method(explainer.method)
    if method in EXACT_METHODS:
        return Fidelity(method=str(method), exact=True, note=EXACT_METHODS[method])
    if measured and str(method) in measured:
        return _measured_fidelity(method, measured)
    params = explainer.get_params()
    budget = REFERENCE_SCALE * int(params.get("budget") or DEFAULT_BUDGET)
    n_background = min(REFERENCE_SCALE * int(params.get("n_background") or DEFAULT_BACKGROUND), len(X_fit))
    start = time.perf_counter()
    reference = make_explainer(
        target,
        X_fit,
        "kernel",
        feature_names=list(explainer.feature_names_in_),
        class_names=class_names,
        budget=budget,
        n_background=n_background,
        seed=seed + 1,
    )
    ref = stack(explain_in_chunks(reference.explain, X_rows, desc="fidelity reference", progress=progress))
    relative = relative_l2(served.values, ref.values)
    estimated = None
    if served.error is not None:
        # the stated error against the reference's size, as relative_l2 measures the actual one
        scale = np.maximum(np.linalg.norm(ref.values.reshape(ref.n_rows, -1), axis=1), np.finfo(float).tiny)
        estimated = float(np.median(np.linalg.norm(served.error, axis=1) / scale))
    return Fidelity(
        method=str(method),
        exact=False,
        reference={"method": "kernel", "budget": budget, "n_background": n_background},
        rows=int(ref.n_rows),
        median_rel_l2=float(np.median(relative)),
        p90_rel_l2=float(np.quantile(relative, 0.9)),
        median_estimated_rel_error=estimated,
        seconds=round(time.perf_counter() - start, 3),
    )


def _measured_fidelity(method: Method, measured: dict[str, Any]) -> Fidelity:
    """The fit-time figures of the served method, in the report's shape, with both methods'."""
    figures = measured[str(method)]
    reference = measured["reference"]
    return Fidelity(
        method=str(method),
        exact=False,
        reference={"method": reference["kind"], **{k: v for k, v in reference.items() if k != "kind"}},
        rows=int(figures["rows"]),
        median_rel_l2=float(figures["median_rel_l2"]),
        p90_rel_l2=float(figures["p90_rel_l2"]),
        measured_at_fit={k: v for k, v in measured.items() if k != "reference"},
    )


def plot_importance(importance: Mapping[str, Importance], *, title: str, top: int = 15) -> bytes:
    """A PNG of the largest mean |value| per feature, one panel per level."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    levels = list(importance)
    heights = [min(top, len(importance[level].feature_names)) for level in levels]
    fig = Figure(figsize=(8, 1.2 + 0.32 * sum(heights) + 0.6 * len(levels)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(levels), 1, squeeze=False, height_ratios=[h + 2 for h in heights])[:, 0]
    for ax, level in zip(axes, levels, strict=True):
        gi = importance[level]
        shown = gi.ranked()[:top][::-1]
        ax.barh([name for name, _ in shown], [value for _, value in shown], color="#3b75af")
        ax.set_title(f"{level} features ({gi.rows} rows)", fontsize=10)
        ax.set_xlabel(f"mean |attribution| ({gi.space})", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
