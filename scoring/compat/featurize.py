"""The surrogate's inputs, as the reference's MimicExplainer made them from a teacher's frame.

- `reset_index='reset'` (or True): a frame's index (one or more levels, when it is not the
  default 0..n-1) becomes feature columns, after the frame's own columns; the teacher still gets
  the frame as it was given, index and all.
- Date and datetime columns become numbers: the column itself is replaced by its seconds since
  the earliest value seen in training, and its year, month, day, hour, minute and second are
  added after the other columns, named `<column>_year`, ... (the reference's timestamp
  featurizer). A `datetime.date` column (object dtype) is read as a datetime at midnight.
- `categorical_features` that hold strings get ordinal codes of the categories seen in training
  (sorted); a category not seen then gets the next code (the reference's unknown bucket).

The derived columns are folded back onto the column they came from (their values are summed),
so an explanation names the columns given, index levels included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from scoring.errors import ValidationError

PARTS = ("year", "month", "day", "hour", "minute", "second")


class ResetIndex(StrEnum):
    """What MimicExplainer does with a frame's index: `ignore` it (the default), `reset` it into
    feature columns of the surrogate, or `reset_teacher`: pass it on to the teacher only."""

    IGNORE = "ignore"
    RESET = "reset"
    RESET_TEACHER = "reset_teacher"
    # the reference's spellings
    Ignore = "ignore"
    Reset = "reset"
    ResetTeacher = "reset_teacher"

    @classmethod
    def of(cls, value: Any) -> ResetIndex:
        if value is True:
            return cls.RESET  # the reference's tests pass reset_index=True
        if value is False or value is None:
            return cls.IGNORE
        try:
            return cls(value)
        except ValueError:
            raise ValidationError(
                f"reset_index must be one of {[m.value for m in cls if m.name.isupper()]}, got {value!r}",
                field="reset_index",
            ) from None


def _has_index(frame: pd.DataFrame) -> bool:
    return not pd.Index(np.arange(len(frame))).equals(frame.index)


def with_index(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its index levels as columns after its own (a default index adds none)."""
    if not _has_index(frame):
        return frame.reset_index(drop=True)
    levels = [n if n is not None else f"level_{i}" for i, n in enumerate(frame.index.names)]
    reset = frame.set_axis(frame.index.set_names(levels)).reset_index()
    return reset[[*frame.columns, *levels]]


def _is_time(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if column.dtype == object:
        values = column.dropna()
        return len(values) > 0 and all(isinstance(v, dt.date) for v in values)
    return False


def _as_datetime(column: pd.Series) -> pd.Series:
    values = pd.to_datetime(column)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def _seconds(values: pd.Series) -> np.ndarray:
    """Seconds since the Unix epoch (naive datetimes read as UTC, as `Timestamp.timestamp()` does)."""
    return (values - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(dtype=float)


@dataclass(frozen=True)
class SurrogateFeatures:
    """How a teacher's rows become the surrogate's numeric columns, fitted on training rows."""

    reset: bool
    names: tuple[str, ...]  # the surrogate's input columns before derived ones are added
    time_columns: tuple[tuple[str, float], ...] = ()  # (column, earliest seconds in training)
    codes: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # (column, categories seen in training)

    @classmethod
    def fit(cls, X: Any, *, reset: bool, categorical_features: Sequence[Any] | None) -> SurrogateFeatures:
        if not isinstance(X, pd.DataFrame):
            return cls(reset=False, names=())
        frame = with_index(X) if reset else X
        names = tuple(str(c) for c in frame.columns)
        times = tuple(
            (str(c), float(np.nanmin(_seconds(_as_datetime(frame[c])))))
            for c in frame.columns
            if _is_time(frame[c])
        )
        wanted = {str(c) for c in (categorical_features or ()) if not isinstance(c, (int, np.integer))}
        wanted |= {names[int(c)] for c in (categorical_features or ()) if isinstance(c, (int, np.integer))}
        codes = tuple(
            (str(c), tuple(sorted(frame[c].dropna().unique().tolist(), key=str)))
            for c in frame.columns
            if str(c) in wanted and not pd.api.types.is_numeric_dtype(frame[c])
        )
        return cls(reset=reset, names=names, time_columns=times, codes=codes)

    @property
    def active(self) -> bool:
        return self.reset or bool(self.time_columns) or bool(self.codes)

    @property
    def derived_names(self) -> tuple[str, ...]:
        return self.names + tuple(f"{c}_{part}" for c, _ in self.time_columns for part in PARTS)

    @property
    def matrix(self) -> np.ndarray:
        """(derived columns, columns): which column each derived one comes from."""
        position = {n: j for j, n in enumerate(self.names)}
        owner = list(range(len(self.names))) + [position[c] for c, _ in self.time_columns for _ in PARTS]
        matrix = np.zeros((len(owner), len(self.names)))
        matrix[np.arange(len(owner)), owner] = 1.0
        return matrix

    def columns(self, X: Any) -> pd.DataFrame:
        """The teacher's rows as the surrogate's columns (index levels included), before deriving."""
        frame = with_index(X) if self.reset else X
        if tuple(str(c) for c in frame.columns) != self.names:
            raise ValidationError(
                f"expected the columns {list(self.names)}, got {[str(c) for c in frame.columns]}",
                field="evaluation_examples",
            )
        return frame.set_axis(list(self.names), axis=1)

    def transform(self, X: Any) -> pd.DataFrame:
        frame = self.columns(X).copy()
        extra = {}
        for name, earliest in self.time_columns:
            values = _as_datetime(frame[name])
            frame[name] = _seconds(values) - earliest
            for part in PARTS:
                extra[f"{name}_{part}"] = getattr(values.dt, part).to_numpy(dtype=float)
        for name, categories in self.codes:
            lookup = {c: float(i) for i, c in enumerate(categories)}
            frame[name] = [lookup.get(v, float(len(categories))) for v in frame[name]]
        return pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1) if extra else frame
