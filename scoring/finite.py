"""Answers that are not finite: values near the float maximum overflow a model's arithmetic (a
probability or an attribution becomes NaN or infinite, or the model refuses a value beyond
float32's range). One home for finding such rows, for the service and the batch job alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoring.explanation import Explanation

CAUSE = "values this large overflow the model's arithmetic"
FLOAT32_MAX = float(np.finfo(np.float32).max)


def nonfinite_rows(prediction: Any, explanation: Explanation | None) -> dict[int, str]:
    """Row index -> what is not finite in its answer (a `scoring.bundle.Prediction` and its
    explanation), for the rows whose answer has NaN or infinity."""
    parts: list[tuple[str, np.ndarray]] = []
    labels = np.asarray(prediction.labels)
    if labels.dtype.kind in "fc":
        parts.append(("prediction", labels.reshape(len(labels), -1)))
    if prediction.probabilities is not None:
        parts.append(("probabilities", prediction.probabilities))
    if explanation is not None:
        n = explanation.n_rows
        parts.append(("attributions", explanation.values.reshape(n, -1)))
        parts.append(("explained output", explanation.outputs.reshape(n, -1)))
        if explanation.stderr is not None:
            parts.append(("error estimate", explanation.stderr.reshape(n, -1)))
    bad: dict[int, list[str]] = {}
    for name, values in parts:
        for i in np.flatnonzero(~np.isfinite(np.asarray(values, dtype=float)).all(axis=1)).tolist():
            bad.setdefault(i, []).append(name)
    return {i: f"its {', '.join(names)} would not be finite: {CAUSE}" for i, names in sorted(bad.items())}


def beyond_float32(frame: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """Row index -> (feature, cause) for the rows holding a number beyond float32's range (3.4e38):
    most models' arithmetic (trees cast to float32) cannot take them, and none gives them a meaning."""
    block = frame
    values = frame.to_numpy()
    if values.dtype.kind not in "fiu":  # not every column a plain number (pandas gave objects)
        numeric = [j for j, dtype in enumerate(frame.dtypes) if dtype.kind in "fiu"]
        if not numeric:
            return {}
        block = frame if len(numeric) == frame.shape[1] else frame.iloc[:, numeric]
        # one block for every numeric column: a per-column loop costs ~20 us a column and request
        values = block.to_numpy(dtype=float, na_value=0.0)
    values = np.abs(values.astype(float, copy=False))  # NaN (missing) compares False below
    beyond = values > FLOAT32_MAX
    errors: dict[int, tuple[str, str]] = {}
    for i in np.flatnonzero(beyond.any(axis=1)).tolist():
        j = int(np.argmax(beyond[i]))  # the first such column, as the frame orders them
        name = str(block.columns[j])
        errors[i] = (name, f"|value| {values[i, j]:.3g} is beyond {FLOAT32_MAX:.3g}: {CAUSE}")
    return errors
