"""`_repr_html_` of explanations: a notebook shows the top features as a small bar table."""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

TOP = 10


def _bars(names: list[Any], values: list[float]) -> str:
    peak = max((abs(v) for v in values), default=0.0) or 1.0
    rows = []
    for name, value in zip(names, values, strict=True):
        width = round(100 * abs(value) / peak)
        colour = "#1f77b4" if value >= 0 else "#d62728"
        rows.append(
            f"<tr><td>{escape(str(name))}</td><td style='text-align:right'>{value:.4g}</td>"
            f"<td style='width:12em'><div style='background:{colour};height:0.8em;"
            f"width:{width}%'></div></td></tr>"
        )
    return "<table class='explanation'>" + "".join(rows) + "</table>"


def explanation_html(explanation: Any) -> str:
    """A heading (method, task, rows) and the top features, global or of the first row."""
    kind = type(explanation).__name__
    head = (
        f"<b>{escape(kind)}</b> · method {escape(str(explanation.method))} · {escape(explanation.model_task)}"
    )
    fidelity = getattr(explanation, "fidelity", None)
    if fidelity:
        r2 = next((v for k, v in fidelity.items() if k.endswith("_r2") and v is not None), None)
        if r2 is not None:
            head += f" · surrogate R² {float(r2):.3f}"
    if hasattr(explanation, "get_ranked_global_names"):
        names = explanation.get_ranked_global_names(TOP)
        values = explanation.get_ranked_global_values(TOP)
        caption = "global importance (mean |value|)"
    else:
        values_all = np.asarray(explanation._local_importance_values)
        row = values_all.reshape(-1, values_all.shape[-1])[0] if values_all.ndim > 1 else values_all
        order = np.argsort(-np.abs(row), kind="stable")[:TOP]
        features = explanation.features
        names = [features[j] if features is not None else j for j in order]
        values = [float(row[j]) for j in order]
        caption = "first row" + (", first class" if values_all.ndim == 3 else "")
    return f"<div>{head}<br><i>{escape(caption)}</i>{_bars(names, [float(v) for v in values])}</div>"
