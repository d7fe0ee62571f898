"""Rows whose answer is not finite (found by `scoring.finite`): values near the float maximum
overflow the model's arithmetic. Such a row gets an error naming the cause (and the feature, when one is) and
null numbers, the other rows of the request still get their answers, and no response ever
carries NaN or Infinity. A request whose every row fails so is a 400 naming its first row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.bundle import Prediction
from scoring.errors import ValidationError
from scoring.explanation import Explanation
from scoring.finite import beyond_float32, nonfinite_rows
from service.responses import validation_error_body


@dataclass(frozen=True)
class Screen:
    """Which rows of a request are computed (`kept`, their positions in the request) and why the
    others are not (`errors`: request position -> (feature, cause))."""

    kept: np.ndarray
    errors: dict[int, tuple[str, str]]


def screen_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, Screen]:
    """The rows to compute, without those holding a number beyond float32's range (3.4e38): most
    models' arithmetic (trees cast to float32) cannot take them, and none gives them a meaning.
    A ValidationError naming the first row when no row is left."""
    errors = beyond_float32(frame)
    if not errors:
        return frame, Screen(np.arange(len(frame)), {})
    if len(errors) == len(frame):
        first = min(errors)
        raise ValidationError(errors[first][1], row=first, field=errors[first][0])
    kept = np.array([i for i in range(len(frame)) if i not in errors], dtype=int)
    return frame.iloc[kept].reset_index(drop=True), Screen(kept, errors)


def finite_body(
    body: dict[str, Any], prediction: Prediction, explanation: Explanation | None, screen: Screen, n_rows: int
) -> dict[str, Any]:
    """`body` (built from the kept rows) as the answer to all `n_rows` rows: rows screened out or
    whose answer is not finite get an error each (`errors`) and null numbers. A ValidationError
    naming the first row when no row is left."""
    failed: dict[int, tuple[str | None, str]] = dict(screen.errors)
    for i, cause in nonfinite_rows(prediction, explanation).items():
        failed[int(screen.kept[i])] = (None, cause)
    if not failed:
        return body
    if len(failed) == n_rows:
        first = min(failed)
        raise ValidationError(failed[first][1], row=first, field=failed[first][0])
    position = {int(p): j for j, p in enumerate(screen.kept)}  # request row -> computed row
    predictions = [None if i in failed else body["predictions"][position[i]] for i in range(n_rows)]
    probabilities = body.get("probabilities")
    if probabilities is not None:
        probabilities = [None if i in failed else probabilities[position[i]] for i in range(n_rows)]
    explanations = body.get("explanations")
    if explanations is not None:
        explanations = [
            {**item, "row": int(screen.kept[item["row"]])}
            for item in explanations
            if int(screen.kept[item["row"]]) not in failed
        ]
    errors = [
        validation_error_body(ValidationError(cause, row=i, field=field))
        for i, (field, cause) in sorted(failed.items())
    ]
    return {
        **body,
        "predictions": predictions,
        "probabilities": probabilities,
        "explanations": explanations,
        "errors": errors,
    }
