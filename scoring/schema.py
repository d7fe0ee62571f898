"""The raw feature schema: what a caller may send, checked row by row, field by field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from scoring.errors import ParameterError, ValidationError

INT64 = (-(2**63), 2**63 - 1)


class Kind(StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORY = "category"


@dataclass(frozen=True)
class Bounds:
    """Numeric features' training ranges: their positions and names, lower and upper (inf: none)."""

    positions: list[int]
    names: list[str]
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Feature:
    """One raw column: its kind, pandas dtype, the range or categories seen, and whether
    nulls and unseen categories can be taken by the model."""

    name: str
    kind: Kind
    dtype: str
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[Any, ...] = ()
    accepts_unseen: bool = False

    def check(self, value: Any, row: int) -> Any:
        """The value in model form, or a ValidationError naming the row and this feature.

        A nullable feature takes null and NaN (what `json.dumps` writes for a pandas NaN) as
        missing; elsewhere NaN is an error like any other non-finite number."""
        if type(value) is float and self.kind is Kind.NUMBER and math.isfinite(value):
            return value  # the common case, as the checks below would pass it
        if value is None or (self.nullable and isinstance(value, float) and math.isnan(value)):
            if self.nullable:
                return np.nan if self.kind is not Kind.CATEGORY else None
            raise ValidationError("expected a value, got null", row=row, field=self.name)
        if self.kind is Kind.CATEGORY:
            return self._check_category(value, row)
        if self.kind is Kind.BOOLEAN:
            if not isinstance(value, bool):
                raise ValidationError(f"expected true or false, got {value!r}", row=row, field=self.name)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"expected a finite number, got {value!r}", row=row, field=self.name)
        if isinstance(value, int) and not self._fits(value):
            raise ValidationError(
                f"expected a finite number, got an integer of {len(str(abs(value)))} digits",
                row=row,
                field=self.name,
            )
        if not math.isfinite(value):
            raise ValidationError(f"expected a finite number, got {value!r}", row=row, field=self.name)
        if self.kind is Kind.INTEGER and isinstance(value, float) and not value.is_integer():
            raise ValidationError(f"expected an integer, got {value!r}", row=row, field=self.name)
        return value

    def _fits(self, value: int) -> bool:
        """Whether a JSON integer fits this column: int64 for integers, a float's range for numbers."""
        if self.kind is Kind.INTEGER:
            return INT64[0] <= value <= INT64[1]
        try:
            float(value)
        except OverflowError:
            return False
        return True

    def _check_category(self, value: Any, row: int) -> Any:
        if isinstance(value, (dict, list, bool)) or (isinstance(value, float) and not math.isfinite(value)):
            raise ValidationError(
                f"expected one of {list(self.categories)}, got {value!r}", row=row, field=self.name
            )
        if value in self.categories:
            return value
        if not self.accepts_unseen:
            raise ValidationError(
                f"unseen category {value!r}; expected one of {list(self.categories)}",
                row=row,
                field=self.name,
            )
        # an unseen category must still be of the type the model saw
        seen_types = {type(c) for c in self.categories}
        if seen_types and type(value) not in seen_types:
            raise ValidationError(
                f"expected a {next(iter(seen_types)).__name__}, got {value!r}",
                row=row,
                field=self.name,
            )
        return value

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Feature:
        return cls(**{**d, "kind": Kind(d["kind"]), "categories": tuple(d.get("categories", ()))})


@dataclass(frozen=True)
class Schema:
    """Raw features in model order, plus what the model predicts."""

    features: tuple[Feature, ...]
    task: str  # "classification" | "regression"
    target: str = "target"
    classes: tuple[Any, ...] = ()
    _index: dict[str, Feature] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {f.name: f for f in self.features})
        if len(self._index) != len(self.features):
            raise ParameterError("feature names must be unique")

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def validate(self, rows: Sequence[Any]) -> pd.DataFrame:
        """JSON rows (objects keyed by feature name) as a typed frame in model column order.

        Raises ValidationError naming the first bad row and field.
        """
        if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
            raise ValidationError("expected a list of rows", field="rows")
        if len(rows) == 0:
            raise ValidationError("expected at least one row, got none", field="rows")
        if self._plain_numbers:
            block = self._number_rows(rows)
            if block is not None:
                return pd.DataFrame(block, columns=self._columns)
        columns: dict[str, list[Any]] = {f.name: [] for f in self.features}
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ValidationError(f"expected an object of features, got {type(row).__name__}", row=i)
            unknown = [k for k in row if k not in self._index]
            if unknown:
                raise ValidationError(
                    f"unknown feature; expected only {list(self.names)}",
                    row=i,
                    field=str(unknown[0]),
                )
            for f in self.features:
                if f.name in row:
                    columns[f.name].append(f.check(row[f.name], i))
                elif f.nullable:  # an omitted nullable feature is a missing value
                    columns[f.name].append(f.check(None, i))
                else:
                    raise ValidationError("missing feature", row=i, field=f.name)
        return self._frame(columns)

    @cached_property
    def _plain_numbers(self) -> bool:
        """Every feature a float64 number (so a row of finite floats needs no per-value check)."""
        return all(f.kind is Kind.NUMBER and f.dtype == "float64" for f in self.features)

    def _number_rows(self, rows: Sequence[Any]) -> np.ndarray | None:
        """The rows as one float block when each holds every feature, as a finite float, and
        nothing else (what the per-value checks would pass unchanged); else None, and the
        per-value checks name what is wrong."""
        names = self.names
        values = []
        for row in rows:
            if type(row) is not dict or len(row) != len(names):
                return None
            try:
                numbers = [row[n] for n in names]
            except KeyError:
                return None
            if not all(type(v) is float for v in numbers):
                return None
            values.append(numbers)
        block = np.array(values, dtype=float)
        return block if np.isfinite(block).all() else None

    def _frame(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        names = self.names
        dtypes = self._column_dtypes
        if len(set(dtypes)) == 1 and dtypes[0] != "object":
            # one block of one dtype: far cheaper than a Series per column on a wide table
            block = np.array([columns[n] for n in names], dtype=dtypes[0]).T
            return pd.DataFrame(block, columns=self._columns)
        data = {n: pd.Series(columns[n], dtype=t) for n, t in zip(names, dtypes, strict=True)}
        return pd.DataFrame(data, columns=self._columns)

    @cached_property  # read on every request
    def category_positions(self) -> tuple[int, ...]:
        """The positions of the categorical features."""
        return tuple(j for j, f in enumerate(self.features) if f.kind is Kind.CATEGORY)

    @cached_property  # read on every request
    def bounds(self) -> Bounds:
        """The numeric features whose range training recorded, and that range."""
        numeric = (Kind.NUMBER, Kind.INTEGER)
        numbers = [j for j, f in enumerate(self.features) if f.kind in numeric and f.minimum is not None]
        features = [self.features[j] for j in numbers]
        return Bounds(
            positions=numbers,
            names=[f.name for f in features],
            lower=np.array([f.minimum for f in features], dtype=float),
            upper=np.array([np.inf if f.maximum is None else f.maximum for f in features], dtype=float),
        )

    @cached_property  # an Index built once: building one from names costs ~30 us a frame
    def _columns(self) -> pd.Index:
        # object dtype: reading the names back (`tolist`, on every request) costs 0.2 us, not 4
        return pd.Index(self.names, dtype=object)

    @cached_property
    def _column_dtypes(self) -> tuple[str, ...]:
        """The dtype of each validated column: object for categories, float for nullable ints."""
        return tuple(
            "object"
            if f.kind is Kind.CATEGORY
            else (f.dtype if not (f.nullable and f.dtype.startswith("int")) else "float64")
            for f in self.features
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "features": [f.to_json() for f in self.features],
            "task": self.task,
            "target": self.target,
            "classes": list(self.classes),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Schema:
        return cls(
            features=tuple(Feature.from_json(f) for f in d["features"]),
            task=d["task"],
            target=d.get("target", "target"),
            classes=tuple(d.get("classes", ())),
        )

    @classmethod
    def from_frame(
        cls,
        X: pd.DataFrame,
        *,
        task: str,
        target: str = "target",
        classes: Sequence[Any] = (),
        nullable: Sequence[str] = (),
        accepts_unseen: Sequence[str] = (),
    ) -> Schema:
        """Infer kinds, ranges and categories from the training frame."""
        features = []
        for name in X.columns:
            col = X[name]
            is_nullable = bool(col.isna().any()) or name in nullable
            if pd.api.types.is_bool_dtype(col):
                features.append(Feature(str(name), Kind.BOOLEAN, "bool", is_nullable))
            elif pd.api.types.is_numeric_dtype(col):
                kind = Kind.INTEGER if pd.api.types.is_integer_dtype(col) else Kind.NUMBER
                lo, hi = col.min(), col.max()
                features.append(
                    Feature(
                        str(name),
                        kind,
                        str(col.dtype),
                        is_nullable,
                        minimum=None if pd.isna(lo) else float(lo),
                        maximum=None if pd.isna(hi) else float(hi),
                    )
                )
            else:
                cats = tuple(sorted({plain_value(v) for v in col.dropna().unique()}, key=str))
                features.append(
                    Feature(
                        str(name),
                        Kind.CATEGORY,
                        "object",
                        is_nullable,
                        categories=cats,
                        accepts_unseen=name in accepts_unseen,
                    )
                )
        return cls(tuple(features), task=task, target=target, classes=tuple(plain_value(c) for c in classes))


def plain_value(v: Any) -> Any:
    """numpy scalars as plain Python values, so they compare with JSON input and serialize."""
    return v.item() if isinstance(v, np.generic) else v


def jsonable(x: Any) -> Any:
    """`x` as JSON values: mappings with text keys, lists for tuples and arrays, numpy scalars as
    Python ones, and a missing or non-finite value (None, NaN, infinity, pandas' NA / NaT) as null."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    x = plain_value(x)
    if x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return x
