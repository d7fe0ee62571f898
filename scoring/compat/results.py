"""The reference design's local explanation, as a view over our one `Explanation` shape.

`LocalExplanation` wraps one engine `Explanation` (values (n, M, K)) and answers the documented
accessors; it keeps our honesty: `method`, `space` and `is_raw` say what was explained and how,
and `explanation` is the engine object with outputs and residuals.

Shapes follow the reference design's documentation: for a classifier (or any model with several
outputs) local values are a list per class of (n, M) lists; for a single-output regressor an
(n, M) list. Rankings are from highest to lowest value, as documented there (signed for local
values, so the most negative contribution is ranked last).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np

from scoring.errors import ValidationError
from scoring.explanation import Explanation, Level, Method, Space


class ModelTask(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


def rank(values: np.ndarray) -> np.ndarray:
    """Indices that sort the last axis from highest to lowest value; ties keep feature order."""
    return np.argsort(-np.asarray(values, dtype=float), axis=-1, kind="stable")


def check_top_k(top_k: int | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValidationError(f"top_k must be a positive integer or None, got {top_k!r}", field="top_k")


class LocalExplanation:
    """Local importances of n rows, with the reference design's accessors."""

    def __init__(
        self,
        explanation: Explanation,
        *,
        model_task: ModelTask | str,
        explanation_id: str | None = None,
        fidelity: Mapping[str, Any] | None = None,
    ):
        self.explanation = explanation
        self.model_task = str(ModelTask(model_task))
        self.id = explanation_id or str(uuid.uuid4())
        self.fidelity = dict(fidelity) if fidelity is not None else None

    @property
    def _per_output(self) -> bool:
        return self.model_task == ModelTask.CLASSIFICATION or self.explanation.n_outputs > 1

    @property
    def _matrix(self) -> np.ndarray:
        """(K, n, M) for classifiers and multi-output models, else (n, M)."""
        values = self.explanation.values
        return np.moveaxis(values, 2, 0) if self._per_output else values[:, :, 0]

    # -- what was explained ----------------------------------------------------------------------
    @property
    def method(self) -> str:
        return str(self.explanation.method)

    @property
    def space(self) -> str:
        return str(self.explanation.space)

    @property
    def features(self) -> list[str]:
        return list(self.explanation.feature_names)

    @property
    def classes(self) -> list[str] | None:
        if self.model_task != ModelTask.CLASSIFICATION:
            return None
        return list(self.explanation.output_names)

    @property
    def is_raw(self) -> bool:
        return self.explanation.level is Level.RAW

    @property
    def is_engineered(self) -> bool:
        return self.explanation.level is Level.ENGINEERED

    @property
    def num_features(self) -> int:
        return self.explanation.n_features

    @property
    def num_examples(self) -> int:
        return self.explanation.n_rows

    @property
    def expected_values(self) -> list[float]:
        """One base value per class (a one-element list for a regressor)."""
        return [float(v) for v in self.explanation.base_values]

    # -- the documented accessors ----------------------------------------------------------------
    @property
    def local_importance_values(self) -> list[Any]:
        """(n, M) for a regressor; a list per class of (n, M) for a classifier."""
        return self._matrix.tolist()

    def get_local_importance_rank(self) -> list[Any]:
        return rank(self._matrix).tolist()

    def get_ranked_local_names(self, top_k: int | None = None) -> list[Any]:
        check_top_k(top_k)
        names = np.asarray(self.explanation.feature_names, dtype=object)[rank(self._matrix)]
        return names[..., :top_k].tolist()

    def get_ranked_local_values(self, top_k: int | None = None) -> list[Any]:
        check_top_k(top_k)
        matrix = self._matrix
        ranked = np.take_along_axis(matrix, rank(matrix), axis=-1)
        return ranked[..., :top_k].tolist()


def explanation_to_json(explanation: Explanation) -> dict[str, Any]:
    """The engine explanation's arrays and labels (not its input data) as JSON-ready lists."""
    return {
        "values": explanation.values.tolist(),
        "base_values": explanation.base_values.tolist(),
        "outputs": explanation.outputs.tolist(),
        "feature_names": list(explanation.feature_names),
        "output_names": list(explanation.output_names),
        "space": str(explanation.space),
        "method": str(explanation.method),
        "level": str(explanation.level),
        "stderr": None if explanation.stderr is None else explanation.stderr.tolist(),
    }


def explanation_from_json(doc: Mapping[str, Any]) -> Explanation:
    n_features = len(doc["feature_names"])
    n_outputs = len(doc["output_names"])
    values = np.asarray(doc["values"], dtype=float).reshape(-1, n_features, n_outputs)
    stderr = doc.get("stderr")
    return Explanation(
        values=values,
        base_values=np.asarray(doc["base_values"], dtype=float),
        outputs=np.asarray(doc["outputs"], dtype=float).reshape(-1, n_outputs),
        feature_names=tuple(doc["feature_names"]),
        output_names=tuple(doc["output_names"]),
        space=Space(doc["space"]),
        method=Method(doc["method"]),
        level=Level(doc["level"]),
        stderr=None if stderr is None else np.asarray(stderr, dtype=float).reshape(values.shape),
    )
