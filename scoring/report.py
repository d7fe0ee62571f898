"""The bundle's report (`report.json`): one declared shape, written by training and read by the
service, the CLI summary and the dashboard.

Every field is declared here, once. `Report.from_json` refuses a document that does not match
(a missing, unknown or mistyped field) with a `BundleError` naming the field, so a renamed key
fails at load instead of emptying a response. Fields only a full training run can fill (metrics,
global importance, fidelity, sizes, timings) may be absent from a bundle built another way (the
reference-layout API in `scoring.compat`, the notebook dashboard): they are then None or empty,
explicitly, and readers say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

from scoring.errors import BundleError
from scoring.schema import jsonable

T = TypeVar("T")


@dataclass(frozen=True)
class DataSizes:
    """How many rows and columns training used."""

    train_rows: int
    raw_features: int
    engineered_features: int
    explainer_rows: int  # rows the explainer was fitted on (a seeded sample for costly methods)
    max_explain_rows: int
    eval_rows: int | None = None  # None: no evaluation frame was given


@dataclass(frozen=True)
class Importance:
    """Global importance at one level: mean |attribution| per feature and output over `rows` rows."""

    rows: int
    space: str
    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    mean_abs: tuple[tuple[float, ...], ...]  # (M, K)
    mean_abs_overall: tuple[float, ...]  # (M,): the mean over outputs
    max_abs_residual: float

    def __post_init__(self) -> None:
        m, k = len(self.feature_names), len(self.output_names)
        if len(self.mean_abs_overall) != m or len(self.mean_abs) != m:
            raise BundleError(f"global importance has values for other than its {m} features")
        if any(len(row) != k for row in self.mean_abs):
            raise BundleError(f"global importance 'mean_abs' rows must hold one value per output ({k})")

    def order(self) -> list[int]:
        """Feature indices, largest mean |attribution| first (stable: ties keep feature order)."""
        return np.argsort(-np.asarray(self.mean_abs_overall, dtype=float), kind="stable").tolist()

    def ranked(self) -> list[tuple[str, float]]:
        """(feature, mean |attribution| over outputs), largest first."""
        return [(self.feature_names[j], self.mean_abs_overall[j]) for j in self.order()]


@dataclass(frozen=True)
class Fidelity:
    """How close the served explainer is to a high-accuracy reference.

    Exact methods say so (`exact`, `note`). Sampled ones give the median and p90, over `rows`
    rows, of ||values - reference|| / ||reference|| (`median_rel_l2`, `p90_rel_l2`), against the
    `reference` described; `measured_at_fit` holds the amortized explainer's own fit-time figures
    when those are the answer."""

    method: str
    exact: bool
    note: str | None = None
    reference: Mapping[str, Any] | None = None
    rows: int | None = None
    median_rel_l2: float | None = None
    p90_rel_l2: float | None = None
    median_estimated_rel_error: float | None = None
    seconds: float | None = None
    measured_at_fit: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ExplainerReport:
    """Which explainer was fitted, over what, and why."""

    method: str
    explains: str
    requested: str | None = None
    params: Mapping[str, Any] | None = None
    space: str | None = None
    levels: tuple[str, ...] = ()
    reason: str | None = None
    chosen_because: str | None = None


@dataclass(frozen=True)
class Report:
    """What `report.json` holds."""

    task: str
    explainer: ExplainerReport
    model: str | None = None
    classes: tuple[str, ...] = ()
    class_labels: tuple[Any, ...] = ()
    data: DataSizes | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    metrics_on: str | None = None
    global_importance: Mapping[str, Importance] = field(default_factory=dict)
    global_importance_rows: str | None = None
    fidelity: Fidelity | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    # the reference-layout explainer's own figures, for a bundle built by scoring.compat
    training_explainer: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, doc: Any) -> Report:
        """The report of a parsed `report.json`; BundleError naming the first field that does not match."""
        return _read_report(doc, "report")


# -- writing ---------------------------------------------------------------------------------------
def _to_json(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _to_json(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    return jsonable(obj)


# -- reading ---------------------------------------------------------------------------------------
def _read_report(doc: Any, at: str) -> Report:
    d = _object(doc, at, Report)
    return Report(
        task=_str(d, "task", at),
        explainer=_required(d, "explainer", at, _read_explainer),
        model=_optional(d, "model", at, _as_str),
        classes=tuple(_list(d, "classes", at, _as_str)),
        class_labels=tuple(_list(d, "class_labels", at, _as_json)),
        data=_optional(d, "data", at, _read_data),
        metrics=_mapping(d, "metrics", at, _as_float),
        metrics_on=_optional(d, "metrics_on", at, _as_str),
        global_importance=_mapping(d, "global_importance", at, _read_importance),
        global_importance_rows=_optional(d, "global_importance_rows", at, _as_str),
        fidelity=_optional(d, "fidelity", at, _read_fidelity),
        timings=_mapping(d, "timings", at, _as_float),
        training_explainer=_optional(d, "training_explainer", at, _as_object),
    )


def _read_data(value: Any, at: str) -> DataSizes:
    d = _object(value, at, DataSizes)
    return DataSizes(
        train_rows=_int(d, "train_rows", at),
        raw_features=_int(d, "raw_features", at),
        engineered_features=_int(d, "engineered_features", at),
        explainer_rows=_int(d, "explainer_rows", at),
        max_explain_rows=_int(d, "max_explain_rows", at),
        eval_rows=_optional(d, "eval_rows", at, _as_int),
    )


def _read_importance(value: Any, at: str) -> Importance:
    d = _object(value, at, Importance)
    try:
        return Importance(
            rows=_int(d, "rows", at),
            space=_str(d, "space", at),
            feature_names=tuple(_list(d, "feature_names", at, _as_str)),
            output_names=tuple(_list(d, "output_names", at, _as_str)),
            mean_abs=tuple(tuple(row) for row in _list(d, "mean_abs", at, _float_list)),
            mean_abs_overall=tuple(_list(d, "mean_abs_overall", at, _as_float)),
            max_abs_residual=_required(d, "max_abs_residual", at, _as_float),
        )
    except BundleError as e:
        raise BundleError(f"report field '{at}': {e}") from None


def _read_fidelity(value: Any, at: str) -> Fidelity:
    d = _object(value, at, Fidelity)
    return Fidelity(
        method=_str(d, "method", at),
        exact=_required(d, "exact", at, _as_bool),
        note=_optional(d, "note", at, _as_str),
        reference=_optional(d, "reference", at, _as_object),
        rows=_optional(d, "rows", at, _as_int),
        median_rel_l2=_optional(d, "median_rel_l2", at, _as_float),
        p90_rel_l2=_optional(d, "p90_rel_l2", at, _as_float),
        median_estimated_rel_error=_optional(d, "median_estimated_rel_error", at, _as_float),
        seconds=_optional(d, "seconds", at, _as_float),
        measured_at_fit=_optional(d, "measured_at_fit", at, _as_object),
    )


def _read_explainer(value: Any, at: str) -> ExplainerReport:
    d = _object(value, at, ExplainerReport)
    return ExplainerReport(
        method=_str(d, "method", at),
        explains=_str(d, "explains", at),
        requested=_optional(d, "requested", at, _as_str),
        params=_optional(d, "params", at, _as_object),
        space=_optional(d, "space", at, _as_str),
        levels=tuple(_list(d, "levels", at, _as_str)),
        reason=_optional(d, "reason", at, _as_str),
        chosen_because=_optional(d, "chosen_because", at, _as_str),
    )


def _object(value: Any, at: str, cls: type) -> Mapping[str, Any]:
    """`value` as an object holding only the fields `cls` declares."""
    if not isinstance(value, Mapping):
        raise _mismatch(at, "an object", value)
    unknown = sorted(str(k) for k in value if k not in {f.name for f in fields(cls)})
    if unknown:
        raise BundleError(
            f"report field '{_join(at, unknown[0])}' is not part of the report's schema "
            f"({cls.__name__} has {[f.name for f in fields(cls)]})"
        )
    return value


def _required(d: Mapping[str, Any], key: str, at: str, read: Callable[[Any, str], T]) -> T:
    if key not in d or d[key] is None:
        raise BundleError(f"report field '{_join(at, key)}' is missing")
    return read(d[key], _join(at, key))


def _optional(d: Mapping[str, Any], key: str, at: str, read: Callable[[Any, str], T]) -> T | None:
    value = d.get(key)
    return None if value is None else read(value, _join(at, key))


def _str(d: Mapping[str, Any], key: str, at: str) -> str:
    return _required(d, key, at, _as_str)


def _int(d: Mapping[str, Any], key: str, at: str) -> int:
    return _required(d, key, at, _as_int)


def _list(d: Mapping[str, Any], key: str, at: str, read: Callable[[Any, str], T]) -> list[T]:
    """A list field; absent is empty."""
    value = d.get(key, [])
    where = _join(at, key)
    if not isinstance(value, (list, tuple)):
        raise _mismatch(where, "a list", value)
    return [read(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _mapping(d: Mapping[str, Any], key: str, at: str, read: Callable[[Any, str], T]) -> dict[str, T]:
    """An object field of named entries; absent is empty."""
    value = d.get(key, {})
    where = _join(at, key)
    if not isinstance(value, Mapping):
        raise _mismatch(where, "an object", value)
    return {str(k): read(v, _join(where, str(k))) for k, v in value.items()}


def _as_str(value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise _mismatch(at, "a string", value)
    return value


def _as_bool(value: Any, at: str) -> bool:
    if not isinstance(value, bool):
        raise _mismatch(at, "true or false", value)
    return value


def _as_int(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _mismatch(at, "an integer", value)
    return int(value)


def _as_float(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise _mismatch(at, "a number", value)
    return float(value)


def _float_list(value: Any, at: str) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise _mismatch(at, "a list of numbers", value)
    return [_as_float(v, f"{at}[{i}]") for i, v in enumerate(value)]


def _as_object(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _mismatch(at, "an object", value)
    return {str(k): v for k, v in value.items()}


def _as_json(value: Any, at: str) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        raise _mismatch(at, "a JSON scalar", value)
    return value


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at != "report" else key


def _mismatch(at: str, expected: str, got: Any) -> BundleError:
    shown = repr(got) if len(repr(got)) <= 60 else f"{type(got).__name__} {repr(got)[:57]}..."
    return BundleError(f"report field '{at}': expected {expected}, got {shown}")


def as_report(report: Report | Mapping[str, Any]) -> Report:
    """A report as declared: a `Report` as it is, a plain document read (and checked) by `from_json`."""
    return report if isinstance(report, Report) else Report.from_json(report)
