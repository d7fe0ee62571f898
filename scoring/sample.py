"""The evaluation sample a bundle may carry for its dashboard: raw rows, true labels, the model's
predictions and every row's attributions at each level, capped and down-sampled with a recorded
seed, or a note saying why it was left out.

It is one JSON document, `sample.json`, written next to the bundle's other files:
`save_bundle(path, bundle, files=make_sample(bundle, X_eval, y_eval))`, or
`files=omit_sample("...")` when the data is too sensitive to ship with the model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.errors import BundleError, ParameterError, ShapeError
from scoring.explanation import Explanation, Level
from scoring.outputs import Outputs
from scoring.schema import jsonable

SAMPLE = "sample.json"
MAX_ROWS = 5000
FORMAT_VERSION = 1
# significant digits kept for attributions and probabilities: enough for any chart or table
DIGITS = 6
NO_SAMPLE_FILE = "this bundle was saved without an evaluation sample"


def make_sample(
    bundle: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
    explanations: Mapping[Level, Explanation] | None = None,
) -> dict[str, bytes]:
    """`{"sample.json": ...}` for `save_bundle(..., files=...)`; see `build_sample`."""
    doc = build_sample(bundle, X, y, max_rows=max_rows, seed=seed, explanations=explanations)
    return {SAMPLE: json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()}


def omit_sample(reason: str) -> dict[str, bytes]:
    """A sample file that holds no rows, only why they were left out (shown by the dashboard)."""
    if not reason.strip():
        raise ParameterError("say why the sample is left out; the dashboard shows the reason")
    doc = {"format_version": FORMAT_VERSION, "omitted": reason}
    return {SAMPLE: json.dumps(doc).encode()}


def build_sample(
    bundle: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
    explanations: Mapping[Level, Explanation] | None = None,
) -> dict[str, Any]:
    """The sample document of at most `max_rows` rows of (`X`, `y`), drawn without replacement
    with `numpy.random.default_rng(seed)` when there are more, kept in their original order.

    `bundle` is a `scoring.bundle.Bundle` (anything with `schema`, `levels`, `predict`, `explain`).
    `explanations`, when the sampled rows were explained already (at every level the bundle
    offers, those rows in that order), are used instead of explaining them again.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame of raw columns, got {type(X).__name__}")
    y = np.asarray(y)
    if len(y) != len(X):
        raise ShapeError(f"X has {len(X)} rows but y has {len(y)}")
    if max_rows < 1:
        raise ParameterError(f"max_rows must be at least 1, got {max_rows}")
    names = list(bundle.schema.names)
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise ParameterError(f"X lacks the schema's column(s) {missing}")
    n_source = len(X)
    if n_source > max_rows:
        positions = np.sort(np.random.default_rng(seed).choice(n_source, size=max_rows, replace=False))
    else:
        positions = np.arange(n_source)
    rows = X.iloc[positions].loc[:, names]
    prediction = bundle.predict(rows)
    classify = bundle.schema.task == "classification"
    to_name = Outputs.of(bundle).names_by_label() if classify else None
    y_true, y_pred = (_labels(y[positions], to_name), _labels(prediction.labels, to_name))
    if explanations is None:
        explanations = explanations_by_level(bundle, rows)
    else:
        _check_given(explanations, bundle.levels, len(rows))
    docs = {str(level): _explanation_doc(replace(e, level=level)) for level, e in explanations.items()}
    if getattr(bundle, "feature_map", None) is None:
        for doc in docs.values():
            doc["data"] = None  # every level is over the raw columns, already in `columns`
    return {
        "format_version": FORMAT_VERSION,
        "omitted": None,
        "seed": seed,
        "max_rows": max_rows,
        "n_source_rows": n_source,
        "n_rows": len(positions),
        "positions": positions.tolist(),
        "features": names,
        "columns": {name: jsonable(rows[name].to_numpy(dtype=object)) for name in names},
        "y_true": y_true,
        "y_pred": y_pred,
        "probabilities": None if prediction.probabilities is None else _rounded(prediction.probabilities),
        "explanations": docs,
    }


def _labels(values: Any, to_name: dict[Any, str] | None) -> list[Any]:
    """True or predicted values as JSON: class names for a classifier, numbers for a regressor."""
    plain = jsonable(np.asarray(values, dtype=object))
    if to_name is None:
        return plain
    return [None if v is None else to_name.get(v, str(v)) for v in plain]


def _check_given(explanations: Mapping[Level, Explanation], levels: Any, n_rows: int) -> None:
    missing = [str(level) for level in levels if level not in explanations]
    if missing:
        raise ParameterError(f"explanations lack the level(s) {missing} this bundle offers")
    for level, e in explanations.items():
        if e.n_rows != n_rows:
            raise ShapeError(f"the {level} explanation has {e.n_rows} rows, the sample {n_rows}")


def explanations_by_level(
    bundle: Any, rows: pd.DataFrame, explained: Explanation | None = None
) -> dict[Level, Explanation]:
    """The explanation of `rows` at every level the bundle offers, explained once: with a feature
    map at the engineered level and folded to raw, else over the raw columns at every level.
    `explained`, when given, is that one explanation already made (at the engineered level when
    the bundle has a feature map, else at its first level)."""
    levels = tuple(bundle.levels)
    feature_map = getattr(bundle, "feature_map", None)
    if feature_map is not None and Level.ENGINEERED in levels:
        engineered = explained if explained is not None else bundle.explain(rows, Level.ENGINEERED)
        raw = engineered.fold(feature_map.matrix, feature_map.raw_names, raw_data=rows.to_numpy())
        return {level: raw if level is Level.RAW else engineered for level in levels}
    # without a feature map every level is the same explanation over the raw columns
    once = explained if explained is not None else bundle.explain(rows, levels[0])
    return {level: replace(once, level=level) for level in levels}


def _explanation_doc(explanation: Explanation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "level": str(explanation.level),
        "method": str(explanation.method),
        "space": str(explanation.space),
        "feature_names": list(explanation.feature_names),
        "output_names": list(explanation.output_names),
        "base_values": _rounded(explanation.base_values),
        # values[i][j][k]: row i, feature j, output k (shap's axis order)
        "values": _rounded(explanation.values),
        "outputs": _rounded(explanation.outputs),
        "max_abs_residual": float(np.max(np.abs(explanation.residual))) if explanation.n_rows else 0.0,
        "error": None if explanation.error is None else _rounded(explanation.error),
        # the engineered columns' values, for dependence plots at that level (raw ones are `columns`)
        "data": None,
    }
    if explanation.level is Level.ENGINEERED and explanation.data is not None:
        data = np.asarray(explanation.data)
        doc["data"] = _rounded(data) if data.dtype.kind in "biuf" else jsonable(data.astype(object))
    return doc


def _rounded(a: Any, digits: int = DIGITS) -> Any:
    """Nested lists of floats kept to `digits` significant digits (short in JSON); NaN as null."""
    a = np.asarray(a, dtype=float)
    out = a.copy()
    finite = np.isfinite(a) & (a != 0)
    if finite.any():
        x = a[finite]
        decimals = digits - 1 - np.floor(np.log10(np.abs(x))).astype(int)
        up = (decimals >= 0) & (decimals <= 22)  # powers of ten exact in float64
        down = (decimals < 0) & (decimals >= -22)
        r = x.copy()
        r[up] = np.round(x[up] * 10.0 ** decimals[up]) / 10.0 ** decimals[up]
        r[down] = np.round(x[down] / 10.0 ** -decimals[down]) * 10.0 ** -decimals[down]
        out[finite] = r
    return jsonable(out)


@dataclass(frozen=True)
class Sample:
    """A bundle's sample document, parsed; `omitted` says why it holds no rows, else None."""

    document: dict[str, Any]
    # the file's bytes as stored, when read from one: served as they are, not re-encoded
    raw: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def omitted(self) -> str | None:
        reason = self.document.get("omitted")
        return None if reason is None else str(reason)

    @property
    def n_rows(self) -> int:
        return 0 if self.omitted else int(self.document["n_rows"])

    @property
    def X(self) -> pd.DataFrame:
        """The raw rows (empty when omitted)."""
        columns = self.document.get("columns") or {}
        return pd.DataFrame({name: columns[name] for name in self.document.get("features", [])})

    @property
    def y_true(self) -> np.ndarray:
        return np.asarray(self.document.get("y_true") or [], dtype=object)

    @property
    def y_pred(self) -> np.ndarray:
        return np.asarray(self.document.get("y_pred") or [], dtype=object)

    def to_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.document, separators=(",", ":"), allow_nan=False).encode()


def load_sample(path: str | Path) -> Sample:
    """The sample stored in the bundle folder `path`; an omitted one when the bundle has none."""
    file = Path(path) / SAMPLE
    if not file.is_file():
        return Sample({"format_version": FORMAT_VERSION, "omitted": NO_SAMPLE_FILE})
    raw = file.read_bytes()
    doc = json.loads(raw)
    if doc.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"sample format {doc.get('format_version')} in {file}, this version reads {FORMAT_VERSION}"
        )
    return Sample(doc, raw)
