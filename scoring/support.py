"""What training saw: each column's numeric range, and the check of a row against it (and against
the categories the raw schema recorded), so that every explanation can say which of its features
lie outside the data the explainer learned from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from scoring.errors import ValidationError
from scoring.schema import Schema


@dataclass(frozen=True)
class Support:
    """Per column: the smallest and largest value seen at fit (NaN for a column that is not
    numeric, which this does not check)."""

    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> Support:
        """The range of each column of the fit rows (missing values ignored)."""
        X = np.asarray(X)
        m = X.shape[1]
        lower, upper = np.full(m, np.nan), np.full(m, np.nan)
        for j in range(m):
            column = _numeric(X[:, j])
            if column is not None and np.isfinite(column).any():
                lower[j], upper[j] = np.nanmin(column), np.nanmax(column)
        return cls(lower, upper)

    def outside(self, X: np.ndarray) -> np.ndarray:
        """(n, M) True where a value lies beyond its column's range (missing values never do)."""
        X = np.asarray(X)
        checked = self._checked
        if len(checked) == 0:
            return np.zeros(X.shape, dtype=bool)
        if X.dtype.kind in "biuf" and len(checked) == X.shape[1]:  # every column: no copy of the rows
            with np.errstate(invalid="ignore"):
                return (X < self.lower) | (X > self.upper)  # NaN (missing) compares False
        out = np.zeros(X.shape, dtype=bool)
        if X.dtype.kind in "biuf":
            values = X[:, checked].astype(float)
        else:
            columns = [_numeric(X[:, j]) for j in checked]
            values = np.column_stack([np.full(len(X), np.nan) if c is None else c for c in columns])
        with np.errstate(invalid="ignore"):
            beyond = (values < self.lower[checked]) | (values > self.upper[checked])
        out[:, checked] = beyond & ~np.isnan(values)
        return out

    @cached_property
    def _checked(self) -> np.ndarray:
        """The columns with a range (numeric at fit)."""
        return np.flatnonzero(np.isfinite(self.lower))

    def clip(self, X: np.ndarray) -> np.ndarray:
        """Numeric rows with every checked column clipped into its range."""
        lower = np.where(np.isfinite(self.lower), self.lower, -np.inf)
        upper = np.where(np.isfinite(self.upper), self.upper, np.inf)
        return np.clip(np.asarray(X, dtype=float), lower, upper)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"support_lower": self.lower, "support_upper": self.upper}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Support | None:
        """The support saved by `to_arrays` (removed from `arrays`), or None for older state."""
        lower, upper = arrays.pop("support_lower", None), arrays.pop("support_upper", None)
        if lower is None or upper is None:
            return None
        return cls(np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))


def _numeric(column: np.ndarray) -> np.ndarray | None:
    """The column as floats, or None when some value is not a number (a category)."""
    if column.dtype.kind in "biuf":
        return column.astype(float)
    try:
        values = pd.to_numeric(pd.Series(column), errors="raise")
    except (TypeError, ValueError):
        return None
    if values.dtype.kind not in "biuf":
        return None
    return values.to_numpy(dtype=float)


def outside_schema(schema: Schema, frame: pd.DataFrame) -> np.ndarray:
    """(n, M_raw) True where a raw value lies outside what the schema recorded at training: a
    number beyond [minimum, maximum], a category not among those seen. Missing values are not
    flagged (whether the model takes them is the schema's own check)."""
    out = np.zeros((len(frame), len(schema.features)), dtype=bool)
    for j in schema.category_positions:
        feature = schema.features[j]
        seen = set(feature.categories)
        out[:, j] = [not _missing(v) and v not in seen for v in frame[feature.name].tolist()]
    bounds = schema.bounds
    if bounds.positions:  # every numeric column in one block: one comparison, not a Series per column
        values = _number_block(frame, bounds.names)
        with np.errstate(invalid="ignore"):
            out[:, bounds.positions] = (values < bounds.lower) | (values > bounds.upper)
    return out


def reject_beyond_range(schema: Schema, frame: pd.DataFrame, multiple: float) -> None:
    """Raise a ValidationError naming the first row and field whose number lies more than
    `multiple` times the training range beyond it: outside [min - k w, max + k w] with w = max - min
    (for a column training saw one value of, w = max(1, |value|)). Missing values pass."""
    bounds = schema.bounds
    if not bounds.positions:
        return
    values = _number_block(frame, bounds.names)
    lower = bounds.lower
    upper = np.where(np.isinf(bounds.upper), lower, bounds.upper)  # no maximum recorded: the minimum
    width = upper - lower
    width = np.where(width > 0, width, np.maximum(1.0, np.abs(lower)))
    low, high = lower - multiple * width, upper + multiple * width
    with np.errstate(invalid="ignore"):
        beyond = (values < low) | (values > high)
    if not beyond.any():
        return
    i, j = np.argwhere(beyond)[0]
    raise ValidationError(
        f"{float(values[i, j])!r} lies beyond {multiple:g}x the training range [{lower[j]:g}, {upper[j]:g}]; "
        f"this service accepts values in [{low[j]:g}, {high[j]:g}]",
        row=int(i),
        field=bounds.names[j],
    )


def _number_block(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """(n, len(names)) floats of these columns; a value that is not a number is NaN."""
    block = frame if frame.shape[1] == len(names) and frame.columns.tolist() == names else frame[names]
    values = block.to_numpy()
    if values.dtype.kind in "biuf":  # every column a plain number (else pandas gives objects)
        return values.astype(float, copy=False)
    if all(dtype.kind in "biuf" for dtype in block.dtypes):
        return block.to_numpy(dtype=float)
    return np.column_stack(
        [pd.to_numeric(block[name], errors="coerce").to_numpy(dtype=float) for name in names]
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
