"""The reference design's local explanation and the members every explanation shares.

Values are kept in the reference's own layout: for a classifier a (K, n, M) array (one (n, M)
matrix per class), for a regressor (n, M); a single 1-D row explained gives (K, M) or (M,).
A member the explanation does not have is an AttributeError, as in the reference, so
`hasattr(explanation, "classes")` tells a classification explanation from a regression one;
data sets that were not given (`eval_data`, `init_data`, ...) are None.

Rankings are highest value first; ties rank the later feature first (the reference's reversed
ascending sort). Without feature names (`features` None), ranked names are feature indexes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.compat.constants import InterpretData, ModelTask, task_of
from scoring.errors import ValidationError
from scoring.explanation import Explanation


def rank(values: Any) -> np.ndarray:
    """Indices sorting the last axis from highest to lowest; ties: the later index first."""
    return np.argsort(np.asarray(values, dtype=float), axis=-1, kind="stable")[..., ::-1]


def check_top_k(top_k: int | None) -> None:
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
    ):
        raise ValidationError(f"top_k must be a positive integer or None, got {top_k!r}", field="top_k")


def as_list(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def raw_importances(values: np.ndarray, feature_maps: Sequence[Any]) -> np.ndarray:
    """Engineered values (..., M_eng) folded by maps of shape (M_raw, M_eng), applied in order."""
    out = np.asarray(values, dtype=float)
    for fmap in feature_maps:
        matrix = np.asarray(fmap.toarray() if hasattr(fmap, "toarray") else fmap, dtype=float)
        if matrix.ndim != 2 or matrix.shape[1] != out.shape[-1]:
            raise ValidationError(
                f"a feature map of shape {matrix.shape} cannot fold {out.shape[-1]} engineered features; "
                "expected (raw features, engineered features)",
                field="feature_maps",
            )
        out = out @ matrix.T
    return out


class ExplanationBase:
    """Members shared by local and global explanations."""

    def __init__(
        self,
        *,
        method: str | None,
        model_task: ModelTask | str,
        features: Sequence[Any] | None = None,
        num_features: int | None = None,
        is_raw: bool = False,
        is_engineered: bool = False,
        classes: Sequence[Any] | None = None,
        num_classes: int | None = None,
        expected_values: Any = None,
        model_type: str | None = None,
        explanation_id: str | None = None,
        init_data: Any = None,
        eval_data: Any = None,
        eval_y_predicted: Any = None,
        eval_y_predicted_proba: Any = None,
        fidelity: Mapping[str, Any] | None = None,
        space: str | None = None,
        explanation: Explanation | None = None,
    ):
        self._method = method
        self._model_task = task_of(model_task)
        self._features = None if features is None else list(as_list(features))
        self._num_features = num_features
        self._is_raw = bool(is_raw)
        self._is_eng = bool(is_engineered)
        self._classification = self._model_task is ModelTask.CLASSIFICATION
        self._classes = None if classes is None else as_list(classes)
        self._num_classes = num_classes
        self._expected_values = None if expected_values is None else np.asarray(expected_values, dtype=float)
        self._model_type = model_type
        self._id = explanation_id or str(uuid.uuid4())
        self._init_data = init_data
        self._eval_data = eval_data
        self._eval_y_predicted = eval_y_predicted
        self._eval_y_predicted_proba = eval_y_predicted_proba
        self.fidelity = dict(fidelity) if fidelity is not None else None
        self.space = space
        self.explanation = explanation

    # -- what was explained ----------------------------------------------------------------------
    @property
    def method(self) -> str | None:
        return self._method

    @property
    def model_task(self) -> str:
        return self._model_task.value

    @property
    def model_type(self) -> str | None:
        return self._model_type

    @property
    def id(self) -> str:
        return self._id

    @property
    def features(self) -> list[Any] | None:
        return None if self._features is None else list(self._features)

    @property
    def num_features(self) -> int:
        if self._features is not None and self._num_features is not None:
            if len(self._features) != self._num_features:
                raise ValidationError(
                    f"{len(self._features)} feature names for {self._num_features} features", field="features"
                )
        return int(self._num_features if self._num_features is not None else len(self._features or []))

    @property
    def is_raw(self) -> bool:
        return self._is_raw

    @property
    def is_engineered(self) -> bool:
        return self._is_eng

    # -- classification only ---------------------------------------------------------------------
    def _need_classes(self, name: str) -> None:
        if not self._classification:
            raise AttributeError(f"a {self.model_task} explanation has no {name}")

    @property
    def classes(self) -> Any:
        self._need_classes("classes")
        return self._classes

    @property
    def num_classes(self) -> int:
        self._need_classes("num_classes")
        if self._num_classes is not None:
            return int(self._num_classes)
        return len(self._classes) if self._classes is not None else 0

    @property
    def expected_values(self) -> Any:
        if self._expected_values is None:
            raise AttributeError("this explanation has no expected values")
        return self._expected_values.tolist()

    # -- data sets, None when not given ----------------------------------------------------------
    @property
    def init_data(self) -> Any:
        return self._init_data

    @property
    def eval_data(self) -> Any:
        return self._eval_data

    @property
    def eval_y_predicted(self) -> Any:
        return self._eval_y_predicted

    @property
    def eval_y_predicted_proba(self) -> Any:
        return self._eval_y_predicted_proba

    def _names(self, order: np.ndarray) -> list[Any]:
        if self._features is None:
            return order.tolist()
        return np.asarray(self._features, dtype=object)[order].tolist()

    def _common(self) -> dict[str, Any]:
        """Keyword arguments that rebuild the shared members (for derived explanations)."""
        return {
            "method": self._method,
            "model_task": self._model_task,
            "classes": self._classes,
            "num_classes": self._num_classes,
            "expected_values": self._expected_values,
            "model_type": self._model_type,
            "init_data": self._init_data,
            "eval_data": self._eval_data,
            "eval_y_predicted": self._eval_y_predicted,
            "eval_y_predicted_proba": self._eval_y_predicted_proba,
            "fidelity": self.fidelity,
            "space": self.space,
        }

    def data(self, key: int | None = None) -> dict[str, Any]:
        return {InterpretData.MLI: []}

    def _repr_html_(self) -> str:
        from scoring.compat.html import explanation_html

        return explanation_html(self)


class LocalExplanation(ExplanationBase):
    """Local importances of n rows, in the reference's layout (see the module docstring)."""

    def __init__(self, local_importance_values: Any, **kwargs: Any):
        values = np.asarray(local_importance_values, dtype=float)
        kwargs.setdefault("num_features", int(values.shape[-1]))
        super().__init__(**kwargs)
        self._local_importance_values = values
        if self._classification and self._num_classes is None:
            self._num_classes = int(values.shape[0])

    @property
    def local_importance_values(self) -> list[Any]:
        return self._local_importance_values.tolist()

    @property
    def is_local_sparse(self) -> bool:
        return False

    @property
    def num_examples(self) -> int:
        values = self._local_importance_values
        rows_axis = 1 if self._classification else 0
        return 1 if values.ndim == rows_axis + 1 else int(values.shape[rows_axis])

    def get_local_importance_rank(self) -> list[Any]:
        return rank(self._local_importance_values).tolist()

    def get_ranked_local_names(self, top_k: int | None = None) -> list[Any]:
        check_top_k(top_k)
        order = rank(self._local_importance_values)
        names = order if self._features is None else np.asarray(self._features, dtype=object)[order]
        return names[..., :top_k].tolist()

    def get_ranked_local_values(self, top_k: int | None = None) -> list[Any]:
        check_top_k(top_k)
        values = self._local_importance_values
        ranked = np.take_along_axis(values, rank(values), axis=-1)
        return ranked[..., :top_k].tolist()

    def get_raw_feature_importances(self, raw_to_output_maps: Sequence[Any]) -> list[Any]:
        return raw_importances(self._local_importance_values, raw_to_output_maps).tolist()

    def get_raw_explanation(
        self,
        feature_maps: Sequence[Any],
        raw_feature_names: Sequence[Any] | None = None,
        eval_data: Any = None,
    ) -> LocalExplanation:
        """The explanation over raw features: each map (raw x engineered) sums engineered values."""
        values = raw_importances(self._local_importance_values, feature_maps)
        self._is_eng = True  # as the reference: this explanation is now known to be engineered
        common = self._common()
        common["eval_data"] = eval_data  # the engineered rows are not the raw ones
        return LocalExplanation(
            values, features=raw_feature_names, is_raw=True, is_engineered=False, **common
        )

    def select_row(self, i: int) -> np.ndarray:
        """Row i's values: (K, M) for a classifier, (M,) for a regressor."""
        values = self._local_importance_values
        if self.num_examples == 1 and values.ndim == (2 if self._classification else 1):
            return values
        return values[:, i] if self._classification else values[i]

    def _row_data(self, i: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            InterpretData.TYPE: InterpretData.UNIVARIATE,
            InterpretData.NAMES: self.features,
            InterpretData.SCORES: self.select_row(i).tolist(),
            InterpretData.PERF: None,
            InterpretData.VALUES: None,
        }
        if self._expected_values is not None:
            row[InterpretData.INTERCEPT] = self.expected_values
        if self._eval_data is not None:
            data = self._eval_data
            rows = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
            row[InterpretData.VALUES] = (rows[None, :] if rows.ndim == 1 else rows)[i].tolist()
        return row

    def data(self, key: int | None = None) -> dict[str, Any]:
        """The reference's `data()`: key -1 gives every row under `specific`, key i row i's dict."""
        if key is None:
            return super().data()
        if key == -1:
            specific = [self._row_data(i) for i in range(self.num_examples)]
            mli = [
                {
                    InterpretData.EXPLANATION_TYPE: InterpretData.LOCAL_FEATURE_IMPORTANCE,
                    InterpretData.VALUE: {
                        InterpretData.SCORES: self.local_importance_values,
                        InterpretData.INTERCEPT: []
                        if self._expected_values is None
                        else self.expected_values,
                    },
                }
            ]
            return {InterpretData.OVERALL: None, InterpretData.SPECIFIC: specific, InterpretData.MLI: mli}
        return self._row_data(int(key))


def local_from_engine(
    explanation: Explanation,
    *,
    model_task: ModelTask,
    method: str,
    features: Sequence[Any] | None,
    is_raw: bool,
    is_engineered: bool,
    single_row: bool = False,
    classes: Sequence[Any] | None = None,
    **extra: Any,
) -> LocalExplanation:
    """The reference-layout explanation of an engine `Explanation` (values (n, M, K))."""
    classification = task_of(model_task) is ModelTask.CLASSIFICATION
    values = explanation.values
    if classification:
        layout = np.moveaxis(values, 2, 0)  # (K, n, M)
        if single_row:
            layout = layout[:, 0, :]
    else:
        layout = values[:, :, 0]
        if single_row:
            layout = layout[0]
    return LocalExplanation(
        layout,
        method=method,
        model_task=model_task,
        features=features,
        is_raw=is_raw,
        is_engineered=is_engineered,
        classes=classes,
        num_classes=values.shape[2] if classification else None,
        expected_values=explanation.base_values,
        explanation=explanation,
        space=str(explanation.space),
        **extra,
    )
