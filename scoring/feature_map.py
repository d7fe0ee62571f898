"""Raw <- engineered feature maps: which raw column(s) own each column the model sees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, SplineTransformer, TargetEncoder

from scoring.errors import ShapeError
from scoring.pipeline import is_identity, is_one_to_one, is_splitter, routes


@dataclass(frozen=True)
class FeatureMap:
    """`matrix[j, r]` is the share of engineered column j owned by raw column r; rows sum to 1."""

    raw_names: tuple[str, ...]
    engineered_names: tuple[str, ...]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.engineered_names), len(self.raw_names))
        if self.matrix.shape != shape:
            raise ShapeError(f"feature map matrix has shape {self.matrix.shape}, expected {shape}")
        if not np.allclose(self.matrix.sum(axis=1), 1.0):
            raise ShapeError("every engineered column must be fully owned by raw columns")

    def to_json(self) -> dict[str, Any]:
        return {"raw_names": list(self.raw_names), "engineered_names": list(self.engineered_names)}

    @classmethod
    def from_json(cls, d: dict[str, Any], matrix: np.ndarray) -> FeatureMap:
        return cls(tuple(d["raw_names"]), tuple(d["engineered_names"]), np.asarray(matrix, dtype=float))

    def owners(self, engineered: str) -> dict[str, float]:
        """The raw columns owning one engineered column, with their shares."""
        j = self.engineered_names.index(engineered)
        return {self.raw_names[r]: float(self.matrix[j, r]) for r in np.flatnonzero(self.matrix[j])}


def derive_feature_map(preprocessor: Any, raw_names: Sequence[str]) -> FeatureMap | None:
    """The map from the engineered columns a fitted preprocessor produces to the raw columns it
    takes, or None when some engineered column mixes raw columns (PCA, polynomial features, a
    custom function) or comes from a transformer this does not know.

    Handles ColumnTransformer (nested pipelines, passthrough, drop, remainder), ColumnMapper,
    FeatureUnion, Pipeline, feature selectors and column-wise transformers: scalers, imputers
    (with missing indicators), one-hot, ordinal, target and spline encoders, KBinsDiscretizer,
    FunctionTransformer of a numpy ufunc.
    """
    raw_names = tuple(str(n) for n in raw_names)
    fitted_names = getattr(preprocessor, "feature_names_in_", None)
    if fitted_names is not None and tuple(str(n) for n in fitted_names) != raw_names:
        raise ShapeError(
            f"the preprocessor was fitted on columns {list(fitted_names)}, not {list(raw_names)}"
        )
    owners = _owners(preprocessor, np.eye(len(raw_names)))
    if owners is None or not np.allclose(owners.sum(axis=1), 1.0):
        return None
    names = _engineered_names(preprocessor, owners, raw_names)
    if names is None:
        return None
    return FeatureMap(raw_names, names, owners)


def _engineered_names(
    preprocessor: Any, owners: np.ndarray, raw_names: tuple[str, ...]
) -> tuple[str, ...] | None:
    """The preprocessor's own output names; else each column named after its owner(s)."""
    try:
        names = tuple(str(n) for n in preprocessor.get_feature_names_out())
    except (AttributeError, TypeError, ValueError):
        stems = ["+".join(raw_names[r] for r in np.flatnonzero(row)) for row in owners]
        counts = {s: stems.count(s) for s in stems}
        seen: dict[str, int] = {}
        out = []
        for stem in stems:
            seen[stem] = seen.get(stem, -1) + 1
            out.append(stem if counts[stem] == 1 else f"{stem}_{seen[stem]}")
        return tuple(out)
    # a width that disagrees with the transformer's own names means a rule above is wrong
    return names if len(names) == owners.shape[0] else None


def _owners(transformer: Any, inputs: np.ndarray) -> np.ndarray | None:
    """Ownership (n_out, n_raw) of a transformer's outputs, given that of its inputs (n_in, n_raw)."""
    if is_identity(transformer):
        return inputs
    if isinstance(transformer, str) and transformer == "drop":
        return inputs[:0]
    if isinstance(transformer, Pipeline):
        for _, step in transformer.steps:
            result = _owners(step, inputs)
            if result is None:
                return None
            inputs = result
        return inputs
    if is_splitter(transformer):
        parts = routes(transformer, inputs.shape[0])
        width = max((r.outputs.stop for r in parts), default=0)
        out = np.zeros((width, inputs.shape[1]))
        for route in parts:
            part = _owners(route.transformer, inputs[route.inputs])
            if part is None or part.shape[0] != route.outputs.stop - route.outputs.start:
                return None
            out[route.outputs] = part
        return out
    if isinstance(transformer, FeatureUnion):
        pieces = []
        for _, step in transformer.transformer_list:
            if isinstance(step, str) and step == "drop":
                continue
            piece = _owners(step, inputs)
            if piece is None:
                return None
            pieces.append(piece)
        return np.vstack(pieces) if pieces else inputs[:0]
    sources = _sources(transformer, inputs.shape[0])
    return None if sources is None else inputs[sources]


def _sources(t: Any, n_in: int) -> np.ndarray | None:
    """For a column-wise transformer, the input column each output column comes from."""
    columns = np.arange(n_in)
    if is_one_to_one(t):
        return columns
    if isinstance(t, OneHotEncoder):
        return np.repeat(columns, _one_hot_widths(t))
    if isinstance(t, KBinsDiscretizer):  # one-hot encodings of the bins
        return np.repeat(columns, np.asarray(t.n_bins_, dtype=int))
    if isinstance(t, TargetEncoder):  # multiclass: one column per class for each input
        return np.repeat(columns, len(t.classes_))
    if isinstance(t, SplineTransformer):
        width = int(t.n_features_out_) // n_in
        return np.repeat(columns, width)
    if isinstance(t, SimpleImputer):
        stats = pd.isna(np.asarray(t.statistics_, dtype=object))
        kept = columns if t.keep_empty_features else columns[~stats]
        indicator = t.indicator_.features_ if t.add_indicator else np.array([], dtype=int)
        return np.concatenate([kept, np.asarray(indicator, dtype=int)])
    if isinstance(t, MissingIndicator):
        return np.asarray(t.features_, dtype=int)
    if isinstance(t, SelectorMixin):
        return np.asarray(t.get_support(indices=True), dtype=int)
    return None


def _one_hot_widths(encoder: OneHotEncoder) -> np.ndarray:
    widths = getattr(encoder, "_n_features_outs", None)  # accounts for drop and infrequent groups
    if widths is not None:
        return np.asarray(widths, dtype=int)
    widths = np.array([len(c) for c in encoder.categories_])
    if encoder.drop_idx_ is not None:
        widths -= np.array([d is not None for d in encoder.drop_idx_], dtype=int)
    return widths
