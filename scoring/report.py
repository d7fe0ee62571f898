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

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

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
    params: Mapping[str, Any] = field(default_factory=dict)
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
        return _read(cls, doc, "report")


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
# Each field is read by its declared type: str, int, float, bool, a tuple of one type, a mapping of
# text to one type (Any: a free-form JSON object), a nested dataclass, or any of those or None.
def _read(cls: type[T], value: Any, at: str) -> T:
    """An instance of the dataclass `cls` from the JSON object `value` found at `at`."""
    if not isinstance(value, Mapping):
        raise _mismatch(at, "an object", value)
    declared = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in value if k not in declared)
    if unknown:
        raise BundleError(
            f"report field '{_join(at, unknown[0])}' is not part of the report's schema "
            f"({cls.__name__} has {list(declared)})"
        )
    hints = get_type_hints(cls)
    given = {}
    for name, f in declared.items():
        where = _join(at, name)
        if value.get(name) is None:
            if f.default is MISSING and f.default_factory is MISSING:
                raise BundleError(f"report field '{where}' is missing")
            continue
        given[name] = _value(hints[name], value[name], where)
    try:
        return cls(**given)
    except BundleError as e:  # a check across fields (e.g. Importance's shapes)
        raise BundleError(f"report field '{at}': {e}") from None


def _value(kind: Any, value: Any, at: str) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin is UnionType or origin is Union:
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, value, at)
    if is_dataclass(kind):
        return _read(kind, value, at)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(at, "a list", value)
        return tuple(_value(args[0], v, f"{at}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise _mismatch(at, "an object", value)
        if args[1] is Any:
            return {str(k): v for k, v in value.items()}
        return {str(k): _value(args[1], v, _join(at, str(k))) for k, v in value.items()}
    return _scalar(kind, value, at)


def _scalar(kind: Any, value: Any, at: str) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise _mismatch(at, "true or false", value)
        return value
    if kind is str:
        if not isinstance(value, str):
            raise _mismatch(at, "a string", value)
        return value
    if isinstance(value, bool) and kind is not Any:
        raise _mismatch(at, "an integer" if kind is int else "a number", value)
    if kind is int:
        if not isinstance(value, int):
            raise _mismatch(at, "an integer", value)
        return value
    if kind is float:
        if not isinstance(value, (int, float)):
            raise _mismatch(at, "a number", value)
        return float(value)
    if kind is Any:
        if not isinstance(value, (str, int, float, bool)):
            raise _mismatch(at, "a JSON scalar", value)
        return value
    raise TypeError(f"the report's schema declares a field of type {kind!r} that cannot be read")


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at != "report" else key


def _mismatch(at: str, expected: str, got: Any) -> BundleError:
    shown = repr(got) if len(repr(got)) <= 60 else f"{type(got).__name__} {repr(got)[:57]}..."
    return BundleError(f"report field '{at}': expected {expected}, got {shown}")


def as_report(report: Report | Mapping[str, Any]) -> Report:
    """A report as declared: a `Report` as it is, a plain document read (and checked) by `from_json`."""
    return report if isinstance(report, Report) else Report.from_json(report)
