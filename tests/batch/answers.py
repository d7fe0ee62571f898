"""Comparing a batch output's rows with the service's answers (`/predict` bodies) for them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from batch.layout import ROW_ID


def service_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One `{row, target, base_value, output, residual, error, method, attributions}` per item."""
    return list(body["explanations"])


def assert_matches_service(out: pd.DataFrame, body: dict[str, Any], *, all_outputs: bool = False) -> None:
    """`out` (batch rows, in the order sent) says exactly what the service's body says."""
    assert out["prediction"].tolist() == body["predictions"]
    if body["probabilities"] is not None:
        for i, probabilities in enumerate(body["probabilities"]):
            for name, value in probabilities.items():
                assert out[f"probability__{name}"].iloc[i] == value
    for item in service_items(body):
        row = out.iloc[item["row"]]
        suffix = f"__{item['target']}" if all_outputs else ""
        if not all_outputs and item["target"] is not None:
            assert row["target"] == item["target"]
        for field in ("base_value", "output", "residual"):
            assert row[f"{field}{suffix}"] == item[field], (field, row[f"{field}{suffix}"], item[field])
        stated = row[f"error{suffix}"]
        assert (np.isnan(stated) and item["error"] is None) or stated == item["error"]
        assert row[f"method{suffix}"] == item["method"]
        served = {a["feature"]: a["value"] for a in item["attributions"]}
        if f"top_1_feature{suffix}" in out.columns:
            k = sum(1 for c in out.columns if c.startswith("top_") and c.endswith(f"_feature{suffix}"))
            ours = {row[f"top_{i}_feature{suffix}"]: row[f"top_{i}_value{suffix}"] for i in range(1, k + 1)}
            if f"other_value{suffix}" in out.columns:
                ours["(other)"] = row[f"other_value{suffix}"]
            assert ours == served
            assert [a["feature"] for a in item["attributions"]][:k] == [
                row[f"top_{i}_feature{suffix}"] for i in range(1, k + 1)
            ]
        else:
            ours = {f: row[f"attribution__{f}{suffix}"] for f in served}
            assert ours == served


def attribution_columns(out: pd.DataFrame, suffix: str = "") -> list[str]:
    return [c for c in out.columns if c.startswith("attribution__") and c.endswith(suffix)]


def assert_additive(out: pd.DataFrame, atol: float = 1e-9) -> None:
    """base_value + sum(attributions) + residual == output on every row, residual near 0 when
    the method is efficient."""
    cols = attribution_columns(out)
    total = out["base_value"] + out[cols].sum(axis=1) + out["residual"]
    np.testing.assert_allclose(total, out["output"], rtol=0, atol=1e-12)
    assert np.abs(out["residual"]).max() < atol


def by_id(out: pd.DataFrame, id_column: str = ROW_ID) -> pd.DataFrame:
    return out.sort_values(id_column).reset_index(drop=True)
