"""Checking a request's options and rows against the bundle, before anything runs.

Every failure is a `scoring.errors.ValidationError` naming the row and field (status 400). Values
are taken as they came from the JSON parser and never coerced: "1.5" is not a number, true is
not 1, and NaN / Infinity are rejected (by the feature schema) wherever they appear in a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import pandas as pd

from scoring.bundle import Bundle
from scoring.errors import ValidationError
from scoring.explanation import Level
from scoring.refine import Budget
from scoring.support import reject_beyond_range
from service.outputs import Outputs


class TargetKind(StrEnum):
    PREDICTED = "predicted"
    ALL = "all"
    OUTPUT = "output"


@dataclass(frozen=True)
class Target:
    """Which outputs each row's explanation covers: the predicted one, all, or one fixed output."""

    kind: TargetKind
    index: int | None = None  # the explained output's index, for TargetKind.OUTPUT

    def __post_init__(self) -> None:
        if (self.kind is TargetKind.OUTPUT) != (self.index is not None):
            raise ValueError("an index is given exactly when the target is one fixed output")


@dataclass(frozen=True)
class ExplainOptions:
    explain: bool = True
    top_k: int | None = None
    level: Level = Level.RAW
    target: Target = Target(TargetKind.PREDICTED)
    budget: Budget | None = None  # refine every row within it (None: the service's default)


# the largest refinement budget a request may ask for, per row
MAX_MS_PER_ROW = 1000.0


@dataclass(frozen=True)
class PredictInput:
    """A checked request: the rows as a typed frame in model column order, and the options."""

    frame: pd.DataFrame
    options: ExplainOptions


def parse_predict(
    bundle: Bundle,
    *,
    rows: Any,
    explain: Any = True,
    top_k: Any = None,
    level: Any = "raw",
    target: Any = "predicted",
    max_ms: Any = None,
    precision: Any = None,
    max_rows: int,
    reject_beyond: float | None = None,
) -> PredictInput:
    """The checked request, or a ValidationError for the first thing wrong with it; with
    `reject_beyond`, a number more than that multiple of its training range beyond it is one."""
    options = parse_options(bundle, explain=explain, top_k=top_k, level=level, target=target)
    budget = parse_budget(max_ms, precision)
    if budget is not None:
        options = replace(options, budget=budget)
    frame = parse_rows(bundle, rows, max_rows=max_rows)
    if reject_beyond is not None:
        reject_beyond_range(bundle.schema, frame, reject_beyond)
    return PredictInput(frame=frame, options=options)


def parse_rows(bundle: Bundle, rows: Any, *, max_rows: int) -> pd.DataFrame:
    if rows is None:
        raise ValidationError("'rows' is required: a list of objects keyed by feature name", field="rows")
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise ValidationError(f"expected a list of rows, got {_json_type(rows)}", field="rows")
    if len(rows) > max_rows:
        raise ValidationError(f"at most {max_rows} rows per request, got {len(rows)}", field="rows")
    return bundle.schema.validate(rows)


def parse_options(bundle: Bundle, *, explain: Any, top_k: Any, level: Any, target: Any) -> ExplainOptions:
    if not isinstance(explain, bool):
        raise ValidationError(f"expected true or false, got {explain!r}", field="explain")
    return ExplainOptions(
        explain=explain,
        top_k=parse_top_k(top_k),
        level=parse_level(bundle, level),
        target=parse_target(bundle, target),
    )


def parse_budget(max_ms: Any, precision: Any) -> Budget | None:
    """A refinement budget: `max_ms` per row (0 to MAX_MS_PER_ROW) and an optional target
    `precision` (> 0, the stated error to stop at); None when neither is given."""
    if max_ms is None and precision is None:
        return None
    for name, value in (("max_ms", max_ms), ("precision", precision)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValidationError(f"expected null or a number, got {value!r}", field=name)
    if max_ms is not None and not 0 <= max_ms <= MAX_MS_PER_ROW:
        raise ValidationError(
            f"expected a number of milliseconds in [0, {MAX_MS_PER_ROW:g}], got {max_ms!r}", field="max_ms"
        )
    if precision is not None and not (precision > 0 and precision < float("inf")):
        raise ValidationError(f"expected a finite number > 0, got {precision!r}", field="precision")
    # a precision alone still needs a bound on the time it may take
    return Budget(
        max_ms=float(MAX_MS_PER_ROW if max_ms is None else max_ms),
        precision=None if precision is None else float(precision),
    )


def parse_top_k(top_k: Any) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise ValidationError(f"expected null or an integer >= 0, got {top_k!r}", field="top_k")
    if top_k < 0:
        raise ValidationError(f"expected null or an integer >= 0, got {top_k}", field="top_k")
    return top_k


def parse_level(bundle: Bundle, level: Any) -> Level:
    available = [str(lv) for lv in bundle.levels]
    if not isinstance(level, str) or level not in available:
        raise ValidationError(f"expected one of {available}, got {level!r}", field="level")
    return Level(level)


def parse_target(bundle: Bundle, target: Any) -> Target:
    """'predicted', 'all', or one output: a class name or raw label (see `Outputs.find`)."""
    if isinstance(target, str) and target in (TargetKind.PREDICTED, TargetKind.ALL):
        return Target(TargetKind(target))
    outputs = Outputs.of(bundle)
    index = None
    if isinstance(target, (str, int)) and not isinstance(target, bool):
        index = outputs.find(target)
    if index is None:
        choices = ["predicted", "all", *outputs.names]
        raise ValidationError(f"expected one of {choices}, got {target!r}", field="target")
    return Target(TargetKind.OUTPUT, index)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return f"a string {value!r}"
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"a number {value!r}"
    return type(value).__name__
