"""Checking a table's rows against the bundle's schema, a column at a time.

The same rules as the service's row checks (`scoring.schema.Feature.check`), vectorized: a
number must be a finite number (an integer for an integer column), a value is required unless
the model takes a missing one, a category must be one training saw unless its encoder ignores
unseen ones. In a table a missing value (null, NaN) is "null". The checked frame has the
columns, order and dtypes the service builds from JSON rows, so both ask the model the same.
Columns the schema does not name are left alone (ids, columns to keep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from batch.errors import BatchError
from scoring.schema import Feature, Kind, Schema, plain_value


@dataclass(frozen=True)
class CheckedRows:
    """The model's input for the good rows, and each bad row's first problem."""

    frame: pd.DataFrame  # good rows only, schema columns in model order and dtypes
    good: np.ndarray  # (n,) bool over the input rows
    problems: list[tuple[int, str, str]]  # (input position, field, message), in row order

    @property
    def n_bad(self) -> int:
        return int((~self.good).sum())


def check_columns(schema: Schema, columns: list[str], source: str) -> None:
    """Raise BatchError unless every schema feature is a column of the input."""
    missing = [name for name in schema.names if name not in columns]
    if missing:
        raise BatchError(f"{source} has no column {missing[0]!r}; the bundle needs {list(schema.names)}")


def check_rows(schema: Schema, X: pd.DataFrame, source: str) -> CheckedRows:
    check_columns(schema, [str(c) for c in X.columns], source)
    n = len(X)
    first: dict[int, tuple[str, str]] = {}
    columns: dict[str, pd.Series] = {}
    for feature in schema.features:
        column = X[feature.name].reset_index(drop=True)
        if _clean_floats(feature, column):  # nothing to check or convert: the usual column
            columns[feature.name] = column
            continue
        column, bad = _check(feature, column)
        for i, message in bad:
            first.setdefault(i, (feature.name, message))
        columns[feature.name] = column
    good = np.ones(n, dtype=bool)
    good[list(first)] = False
    frame = pd.DataFrame(columns, columns=list(schema.names))
    if not good.all():
        frame = frame[good].reset_index(drop=True)
    problems = [(i, *first[i]) for i in sorted(first)]
    return CheckedRows(frame, good, problems)


def model_dtype(feature: Feature) -> str:
    """The dtype the service's checked frame gives this feature (`Schema._frame`)."""
    if feature.kind is Kind.CATEGORY:
        return "object"
    if feature.nullable and feature.dtype.startswith("int"):
        return "float64"
    return feature.dtype


def _clean_floats(feature: Feature, column: pd.Series) -> bool:
    """Whether `column` is float64 numbers, all finite, for a float64 number feature: `_check`
    would return it unchanged with no problem (one vectorized test instead of its passes)."""
    if feature.kind is not Kind.NUMBER or model_dtype(feature) != "float64" or column.dtype != np.float64:
        return False
    return bool(np.isfinite(column.to_numpy()).all())


def _check(feature: Feature, column: pd.Series) -> tuple[pd.Series, list[tuple[int, str]]]:
    """The column in model form (bad values replaced so it casts) and its bad (row, message)s."""
    if feature.kind is Kind.CATEGORY:
        return _check_category(feature, column)
    missing = column.isna().to_numpy()
    bad: dict[int, str] = {}
    if feature.kind is Kind.BOOLEAN:
        values = column.astype(object)
        wrong = ~missing & ~values.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        _note(bad, wrong, column, "expected true or false, got {!r}")
        filler: object = False
    else:
        if pd.api.types.is_bool_dtype(column.dtype):
            numbers = pd.Series(np.full(len(column), np.nan))
            wrong = ~missing
        elif pd.api.types.is_numeric_dtype(column.dtype):
            numbers = column.astype(float)
            wrong = np.zeros(len(column), dtype=bool)
        else:  # text or mixed (a CSV column with a typo): what does not parse is wrong
            is_bool = column.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
            numbers = pd.to_numeric(column.where(~is_bool), errors="coerce").astype(float)
            wrong = ~missing & (numbers.isna().to_numpy() | is_bool)
        _note(bad, wrong, column, "expected a finite number, got {!r}")
        array = numbers.to_numpy()
        with np.errstate(invalid="ignore"):
            infinite = ~missing & ~wrong & np.isinf(array)
            fractional = ~missing & ~wrong & ~infinite & (array != np.round(array))
        _note(bad, infinite, column, "expected a finite number, got {!r}")
        if feature.kind is Kind.INTEGER:
            _note(bad, fractional, column, "expected an integer, got {!r}")
        column = numbers
        filler = 0
    if not feature.nullable:
        for i in np.flatnonzero(missing):
            bad.setdefault(int(i), "expected a value, got null")
    replace = np.zeros(len(column), dtype=bool)
    replace[list(bad)] = True
    column = column.mask(replace, filler)
    if feature.kind is Kind.BOOLEAN:
        column = column.where(~missing, None) if feature.nullable else column
        return column.astype(object if feature.nullable else "bool"), sorted(bad.items())
    dtype: Any = model_dtype(feature)
    return column.astype(dtype), sorted(bad.items())


def _check_category(feature: Feature, column: pd.Series) -> tuple[pd.Series, list[tuple[int, str]]]:
    values = column.astype(object)
    missing = values.isna().to_numpy()
    values = values.where(~missing, None)
    bad: dict[int, str] = {}
    seen = set(feature.categories)
    seen_types = {type(c) for c in feature.categories}
    for value in pd.unique(values[~missing]):
        plain = plain_value(value)
        where = np.flatnonzero((values == value).to_numpy() & ~missing)
        if isinstance(plain, bool) or (isinstance(plain, float) and not np.isfinite(plain)):
            message = f"expected one of {list(feature.categories)}, got {plain!r}"
        elif plain in seen:
            continue
        elif not feature.accepts_unseen:
            message = f"unseen category {plain!r}; expected one of {list(feature.categories)}"
        elif seen_types and type(plain) not in seen_types:
            message = f"expected a {next(iter(seen_types)).__name__}, got {plain!r}"
        else:
            continue
        for i in where:
            bad[int(i)] = message
    if not feature.nullable:
        for i in np.flatnonzero(missing):
            bad.setdefault(int(i), "expected a value, got null")
    plain_values = values.map(plain_value)
    return plain_values.astype(object), sorted(bad.items())


def _note(bad: dict[int, str], mask: np.ndarray, column: pd.Series, template: str) -> None:
    for i in np.flatnonzero(mask):
        value = column.iloc[int(i)]
        bad.setdefault(int(i), template.format(plain_value(value)))
