"""The reference design's global explanation: per-feature importances, highest first, per class
where defined, with the local explanation they were aggregated from when there is one; and its
JSON form, which uploads to the model store use."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scoring.compat.results import (
    LocalExplanation,
    ModelTask,
    check_top_k,
    explanation_from_json,
    explanation_to_json,
    rank,
)
from scoring.errors import ValidationError
from scoring.explanation import Explanation

FORMAT = "scoring.compat.global_explanation"
FORMAT_VERSION = 1

# How uploaded explanations sit in a model store beside their bundle (written by
# training.explanations; here so that a reader such as the service needs no training code):
# one model per upload, named after the bundle, labelled with the bundle's tag, holding one file.
EXPLANATION_FILE = "explanation.json"
EXPLANATION_KIND = "global_explanation"


def explanation_store_name(bundle_name: str) -> str:
    return f"{bundle_name}-explanation"


class GlobalExplanation:
    """Per-feature importances of a model, highest first, with per-class importances where defined.

    Built from a local explanation by `from_local` (importance = mean |local value| over rows, and
    for classifiers over classes too, as the reference design defines it), or directly from
    importances (permutation importance has no local values). A top-k explanation (from `top_k`
    or a download with top_k) holds only its k most important features, ranked.
    """

    def __init__(
        self,
        features: Sequence[str],
        global_importance_values: Any,
        *,
        model_task: ModelTask | str,
        method: str,
        space: str | None,
        is_raw: bool,
        classes: Sequence[str] | None = None,
        per_class_values: Any = None,
        ranked_per_class: tuple[Any, Any] | None = None,
        expected_values: Sequence[float] | None = None,
        local: LocalExplanation | None = None,
        stderr: Any = None,
        fidelity: Mapping[str, Any] | None = None,
        metric: str | None = None,
        top_k: int | None = None,
        explanation_id: str | None = None,
    ):
        self._features = tuple(str(f) for f in features)
        self._values = np.asarray(global_importance_values, dtype=float)
        if self._values.shape != (len(self._features),):
            raise ValueError(f"{self._values.shape} importances for {len(self._features)} features")
        self.model_task = str(ModelTask(model_task))
        self.method = method
        self.space = space
        self.is_raw = is_raw
        self.classes = None if classes is None else [str(c) for c in classes]
        self._per_class = None if per_class_values is None else np.asarray(per_class_values, dtype=float)
        if ranked_per_class is None and self._per_class is not None:
            order = rank(self._per_class)
            names = np.asarray(self._features, dtype=object)[order]
            ranked_per_class = (names, np.take_along_axis(self._per_class, order, axis=-1))
        self._ranked_per_class = ranked_per_class
        self._expected = None if expected_values is None else [float(v) for v in expected_values]
        self.local = local
        self._stderr = None if stderr is None else np.asarray(stderr, dtype=float)
        self.fidelity = dict(fidelity) if fidelity is not None else None
        self.metric = metric
        self.top_k = top_k
        self.id = explanation_id or (local.id if local is not None else str(uuid.uuid4()))

    @classmethod
    def from_local(cls, local: LocalExplanation) -> GlobalExplanation:
        """Importance = mean |local value| over rows (per class), then over classes."""
        abs_values = np.abs(local.explanation.values)  # (n, M, K)
        per_class = abs_values.mean(axis=0).T  # (K, M)
        classification = local.model_task == ModelTask.CLASSIFICATION
        return cls(
            local.features,
            per_class.mean(axis=0),
            model_task=local.model_task,
            method=local.method,
            space=local.space,
            is_raw=local.is_raw,
            classes=local.classes,
            per_class_values=per_class if classification else None,
            expected_values=local.expected_values,
            local=local,
            fidelity=local.fidelity,
            explanation_id=local.id,
        )

    # -- what was explained ----------------------------------------------------------------------
    @property
    def features(self) -> list[str]:
        return list(self._features)

    @property
    def num_features(self) -> int:
        return len(self._features)

    @property
    def is_engineered(self) -> bool:
        return not self.is_raw

    @property
    def expected_values(self) -> list[float] | None:
        return None if self._expected is None else list(self._expected)

    # -- global ----------------------------------------------------------------------------------
    @property
    def global_importance_values(self) -> list[float]:
        """In feature order; for a top-k explanation, the k values highest first."""
        return self._values.tolist()

    @property
    def global_importance_rank(self) -> list[int]:
        return rank(self._values).tolist()

    @property
    def global_importance_stderr(self) -> list[float] | None:
        """Standard error of each importance where it was estimated by resampling (permutation)."""
        return None if self._stderr is None else self._stderr.tolist()

    def get_ranked_global_names(self, top_k: int | None = None) -> list[str]:
        check_top_k(top_k)
        return [self._features[j] for j in rank(self._values)[:top_k]]

    def get_ranked_global_values(self, top_k: int | None = None) -> list[float]:
        check_top_k(top_k)
        return self._values[rank(self._values)[:top_k]].tolist()

    def get_feature_importance_dict(self, top_k: int | None = None) -> dict[str, float]:
        return dict(
            zip(self.get_ranked_global_names(top_k), self.get_ranked_global_values(top_k), strict=True)
        )

    # -- per class -------------------------------------------------------------------------------
    def _ranked_classes(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ranked_per_class is None:
            raise ValidationError(
                f"this {self.method} explanation of a {self.model_task} model has no per-class importances"
            )
        names, values = self._ranked_per_class
        return np.asarray(names, dtype=object), np.asarray(values, dtype=float)

    @property
    def per_class_values(self) -> list[list[float]]:
        """(K, M) in feature order; for a top-k explanation, each class's k values highest first."""
        if self._per_class is not None:
            return self._per_class.tolist()
        return self._ranked_classes()[1].tolist()

    @property
    def per_class_rank(self) -> list[list[int]]:
        if self._per_class is None:
            raise ValidationError("a top-k explanation keeps ranked per-class names, not feature indexes")
        return rank(self._per_class).tolist()

    def get_ranked_per_class_names(self, top_k: int | None = None) -> list[list[str]]:
        check_top_k(top_k)
        return self._ranked_classes()[0][:, :top_k].tolist()

    def get_ranked_per_class_values(self, top_k: int | None = None) -> list[list[float]]:
        check_top_k(top_k)
        return self._ranked_classes()[1][:, :top_k].tolist()

    # -- local, when this global explanation was aggregated from one -----------------------------
    def _local(self) -> LocalExplanation:
        if self.local is None:
            why = f"it was trimmed to the top {self.top_k} features" if self.top_k else "it has none"
            raise ValidationError(f"this {self.method} explanation carries no local values: {why}")
        return self.local

    @property
    def explanation(self) -> Explanation:
        return self._local().explanation

    @property
    def local_importance_values(self) -> list[Any]:
        return self._local().local_importance_values

    @property
    def num_examples(self) -> int:
        return self._local().num_examples

    def get_local_importance_rank(self) -> list[Any]:
        return self._local().get_local_importance_rank()

    def get_ranked_local_names(self, top_k: int | None = None) -> list[Any]:
        return self._local().get_ranked_local_names(top_k)

    def get_ranked_local_values(self, top_k: int | None = None) -> list[Any]:
        return self._local().get_ranked_local_values(top_k)

    # -- trimming and serialization --------------------------------------------------------------
    def keep_top_k(self, top_k: int | None) -> GlobalExplanation:
        """A copy holding only the k most important features (overall, and per class), no local values."""
        check_top_k(top_k)
        if top_k is None or (self.top_k is not None and top_k >= self.top_k):
            return self
        order = rank(self._values)[:top_k]
        ranked_per_class = None
        if self._ranked_per_class is not None:
            names, values = self._ranked_classes()
            ranked_per_class = (names[:, :top_k], values[:, :top_k])
        return GlobalExplanation(
            [self._features[j] for j in order],
            self._values[order],
            model_task=self.model_task,
            method=self.method,
            space=self.space,
            is_raw=self.is_raw,
            classes=self.classes,
            ranked_per_class=ranked_per_class,
            expected_values=self._expected,
            stderr=None if self._stderr is None else self._stderr[order],
            fidelity=self.fidelity,
            metric=self.metric,
            top_k=top_k,
            explanation_id=self.id,
        )

    def to_json(self, *, top_k: int | None = None, include_local: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; `top_k` keeps only the k most important features and drops local values."""
        trimmed = self.keep_top_k(top_k)
        ranked = trimmed._ranked_per_class
        doc: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "id": trimmed.id,
            "model_task": trimmed.model_task,
            "method": trimmed.method,
            "space": trimmed.space,
            "is_raw": trimmed.is_raw,
            "features": list(trimmed._features),
            "classes": trimmed.classes,
            "global_importance_values": trimmed._values.tolist(),
            "global_importance_stderr": trimmed.global_importance_stderr,
            "per_class_values": None if trimmed._per_class is None else trimmed._per_class.tolist(),
            "ranked_per_class": None
            if ranked is None
            else {"names": np.asarray(ranked[0]).tolist(), "values": np.asarray(ranked[1]).tolist()},
            "expected_values": trimmed._expected,
            "fidelity": trimmed.fidelity,
            "metric": trimmed.metric,
            "top_k": trimmed.top_k,
            "local": None,
        }
        if include_local and trimmed.local is not None:
            doc["local"] = explanation_to_json(trimmed.local.explanation)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, top_k: int | None = None) -> GlobalExplanation:
        if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
            raise ValidationError(
                f"expected a {FORMAT} document of version {FORMAT_VERSION}, "
                f"got {doc.get('format')!r} version {doc.get('format_version')!r}"
            )
        local = None
        if doc.get("local") is not None:
            local = LocalExplanation(
                explanation_from_json(doc["local"]),
                model_task=doc["model_task"],
                explanation_id=doc["id"],
                fidelity=doc.get("fidelity"),
            )
        ranked = doc.get("ranked_per_class")
        explanation = cls(
            doc["features"],
            doc["global_importance_values"],
            model_task=doc["model_task"],
            method=doc["method"],
            space=doc.get("space"),
            is_raw=bool(doc["is_raw"]),
            classes=doc.get("classes"),
            per_class_values=doc.get("per_class_values"),
            ranked_per_class=None if ranked is None else (ranked["names"], ranked["values"]),
            expected_values=doc.get("expected_values"),
            local=local,
            stderr=doc.get("global_importance_stderr"),
            fidelity=doc.get("fidelity"),
            metric=doc.get("metric"),
            top_k=doc.get("top_k"),
            explanation_id=doc["id"],
        )
        return explanation.keep_top_k(top_k)
