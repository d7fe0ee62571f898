"""The reference design's global explanation: per-feature importances (mean |local value| over
rows, and for classifiers per class, then over classes), with the local explanation they come
from when there is one; and its JSON form, which uploads to the model store use.

Members follow the reference: local members (`local_importance_values`, ...) exist only when
local values were kept, per-class members only for a classifier's explanation aggregated from
local values; otherwise they are an AttributeError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scoring.compat.constants import InterpretData
from scoring.compat.explanation import (
    ExplanationBase,
    LocalExplanation,
    check_top_k,
    rank,
    raw_importances,
)
from scoring.compat.results import explanation_from_json, explanation_to_json
from scoring.errors import ValidationError

FORMAT = "scoring.compat.global_explanation"
FORMAT_VERSION = 2

# How uploaded explanations sit in a model store beside their bundle (written by
# training.explanations; here so that a reader such as the service needs no training code):
# one model per upload, named after the bundle, labelled with the bundle's tag, holding one file.
EXPLANATION_FILE = "explanation.json"
EXPLANATION_KIND = "global_explanation"


def explanation_store_name(bundle_name: str) -> str:
    return f"{bundle_name}-explanation"


class GlobalExplanation(ExplanationBase):
    """Global importances; with `local_explanation`, also that explanation's local members."""

    def __init__(
        self,
        global_importance_values: Any,
        *,
        global_importance_rank: Any = None,
        per_class_values: Any = None,
        per_class_rank: Any = None,
        local_explanation: LocalExplanation | None = None,
        ranked_names: Sequence[Any] | None = None,
        ranked_per_class_names: Any = None,
        stderr: Any = None,
        metric: str | None = None,
        top_k: int | None = None,
        **kwargs: Any,
    ):
        values = np.asarray(global_importance_values, dtype=float)
        kwargs.setdefault("num_features", int(values.shape[-1]))
        super().__init__(**kwargs)
        self._global_importance_values = values
        self._global_importance_rank = (
            rank(values) if global_importance_rank is None else np.asarray(global_importance_rank, dtype=int)
        )
        self._per_class_values = (
            None if per_class_values is None else np.asarray(per_class_values, dtype=float)
        )
        if self._per_class_values is not None and per_class_rank is None:
            per_class_rank = rank(self._per_class_values)
        self._per_class_rank = None if per_class_rank is None else np.asarray(per_class_rank, dtype=int)
        self._local = local_explanation
        self._ranked_names = None if ranked_names is None else list(ranked_names)
        self._ranked_per_class_names = ranked_per_class_names
        self._stderr = None if stderr is None else np.asarray(stderr, dtype=float)
        self.metric = metric
        self.top_k = top_k
        if local_explanation is not None and self.explanation is None:
            self.explanation = local_explanation.explanation

    @classmethod
    def from_local(cls, local: LocalExplanation, *, include_local: bool = True) -> GlobalExplanation:
        values = np.abs(local._local_importance_values)
        kwargs = local._common()
        per_class = None
        if local._classification:
            per_class = values.mean(axis=1) if values.ndim == 3 else values  # (K, M)
            overall = per_class.mean(axis=0)
        else:
            overall = values.mean(axis=0) if values.ndim == 2 else values
        return cls(
            overall,
            per_class_values=per_class,
            local_explanation=local if include_local else None,
            features=local._features,
            num_features=local.num_features,
            is_raw=local.is_raw,
            is_engineered=local.is_engineered,
            explanation_id=local.id,
            explanation=local.explanation if include_local else None,
            **kwargs,
        )

    # -- global ----------------------------------------------------------------------------------
    @property
    def global_importance_values(self) -> list[float]:
        """In feature order; for a top-k explanation, the k values highest first."""
        return self._global_importance_values.tolist()

    @property
    def global_importance_rank(self) -> list[int]:
        return self._global_importance_rank.tolist()

    @property
    def global_importance_stderr(self) -> list[float] | None:
        return None if self._stderr is None else self._stderr.tolist()

    def get_ranked_global_names(self, top_k: int | None = None) -> list[Any]:
        check_top_k(top_k)
        if self._ranked_names is not None:
            return self._ranked_names[:top_k]
        return self._names(self._global_importance_rank)[:top_k]

    def get_ranked_global_values(self, top_k: int | None = None) -> list[float]:
        check_top_k(top_k)
        if self._ranked_names is not None:
            return self._global_importance_values[:top_k].tolist()
        return self._global_importance_values[self._global_importance_rank][:top_k].tolist()

    def get_feature_importance_dict(self, top_k: int | None = None) -> dict[Any, float]:
        names = self.get_ranked_global_names(top_k)
        return dict(zip(names, self.get_ranked_global_values(top_k), strict=True))

    # -- per class -------------------------------------------------------------------------------
    def _need_per_class(self) -> np.ndarray:
        self._need_classes("per-class importances")
        if self._per_class_values is None:
            raise AttributeError(f"this {self.method} explanation has no per-class importances")
        return self._per_class_values

    @property
    def per_class_values(self) -> list[list[float]]:
        return self._need_per_class().tolist()

    @property
    def per_class_rank(self) -> list[list[int]]:
        self._need_per_class()
        assert self._per_class_rank is not None
        return self._per_class_rank.tolist()

    def get_ranked_per_class_names(self, top_k: int | None = None) -> list[list[Any]]:
        check_top_k(top_k)
        self._need_per_class()
        if self._ranked_per_class_names is not None:
            return [list(r[:top_k]) for r in self._ranked_per_class_names]
        assert self._per_class_rank is not None
        return [self._names(r)[:top_k] for r in self._per_class_rank]

    def get_ranked_per_class_values(self, top_k: int | None = None) -> list[list[float]]:
        check_top_k(top_k)
        values = self._need_per_class()
        if self._ranked_per_class_names is not None:
            return values[:, :top_k].tolist()
        assert self._per_class_rank is not None
        return np.take_along_axis(values, self._per_class_rank, axis=-1)[:, :top_k].tolist()

    # -- local, when kept ------------------------------------------------------------------------
    @property
    def local(self) -> LocalExplanation | None:
        return self._local

    def _need_local(self) -> LocalExplanation:
        if self._local is None:
            why = f"it was trimmed to the top {self.top_k} features" if self.top_k else "none were kept"
            raise AttributeError(f"this {self.method} global explanation has no local values: {why}")
        return self._local

    @property
    def _local_importance_values(self) -> np.ndarray:
        return self._need_local()._local_importance_values

    @property
    def local_importance_values(self) -> list[Any]:
        return self._need_local().local_importance_values

    @property
    def is_local_sparse(self) -> bool:
        return False

    @property
    def num_examples(self) -> int:
        return self._need_local().num_examples

    def get_local_importance_rank(self) -> list[Any]:
        return self._need_local().get_local_importance_rank()

    def get_ranked_local_names(self, top_k: int | None = None) -> list[Any]:
        return self._need_local().get_ranked_local_names(top_k)

    def get_ranked_local_values(self, top_k: int | None = None) -> list[Any]:
        return self._need_local().get_ranked_local_values(top_k)

    # -- raw features ----------------------------------------------------------------------------
    def get_raw_feature_importances(self, feature_maps: Sequence[Any]) -> list[float]:
        return raw_importances(self._global_importance_values, feature_maps).tolist()

    def get_raw_explanation(
        self,
        feature_maps: Sequence[Any],
        raw_feature_names: Sequence[Any] | None = None,
        eval_data: Any = None,
    ) -> GlobalExplanation:
        """The explanation over raw features: local values folded, then aggregated again."""
        self._is_eng = True  # as the reference: this explanation is now known to be engineered
        if self._local is not None:
            local = self._local.get_raw_explanation(feature_maps, raw_feature_names, eval_data)
            return GlobalExplanation.from_local(local)
        common = self._common()
        common["eval_data"] = eval_data
        per_class = None
        if self._per_class_values is not None:
            per_class = raw_importances(self._per_class_values, feature_maps)
        return GlobalExplanation(
            raw_importances(self._global_importance_values, feature_maps),
            per_class_values=per_class,
            features=raw_feature_names,
            is_raw=True,
            is_engineered=False,
            **common,
        )

    # -- data ------------------------------------------------------------------------------------
    def data(self, key: int | None = None) -> dict[str, Any]:
        """The reference's `data()`: no key gives the global scores in feature order; -1 adds
        every row's (when local values were kept); a row index gives that row's dict."""
        if key is not None and key != -1 and self._local is not None:
            return self._local.data(key)
        entry = {
            InterpretData.EXPLANATION_TYPE: InterpretData.GLOBAL_FEATURE_IMPORTANCE,
            InterpretData.VALUE: {
                InterpretData.SCORES: self.global_importance_values,
                InterpretData.INTERCEPT: None if self._expected_values is None else self.expected_values,
            },
        }
        if key is None:
            return {
                InterpretData.MLI: [entry],
                InterpretData.TYPE: InterpretData.UNIVARIATE,
                InterpretData.NAMES: self.features,
                InterpretData.SCORES: self.global_importance_values,
            }
        out = (
            self._local.data(-1)
            if self._local is not None
            else {InterpretData.SPECIFIC: None, InterpretData.MLI: []}
        )
        out[InterpretData.MLI].append(entry)
        out[InterpretData.OVERALL] = {
            InterpretData.NAMES: self.features,
            InterpretData.SCORES: self.global_importance_values,
        }
        return out

    # -- trimming and serialization (the model store's uploads) ----------------------------------
    def keep_top_k(self, top_k: int | None) -> GlobalExplanation:
        """A copy holding only the k most important features (overall, and per class), no local values."""
        check_top_k(top_k)
        if top_k is None or (self.top_k is not None and top_k >= self.top_k):
            return self
        per_class = names_pc = None
        if self._per_class_values is not None and self._classification:
            names_pc = self.get_ranked_per_class_names(top_k)
            per_class = np.asarray(self.get_ranked_per_class_values(top_k))
        common = self._common()
        return GlobalExplanation(
            self.get_ranked_global_values(top_k),
            global_importance_rank=np.arange(min(top_k, self.num_features)),
            ranked_names=self.get_ranked_global_names(top_k),
            per_class_values=per_class,
            per_class_rank=None
            if per_class is None
            else np.tile(np.arange(per_class.shape[1]), (len(per_class), 1)),
            ranked_per_class_names=names_pc,
            features=self.get_ranked_global_names(top_k),
            is_raw=self.is_raw,
            is_engineered=self.is_engineered,
            stderr=None if self._stderr is None else self._stderr[self._global_importance_rank][:top_k],
            metric=self.metric,
            top_k=top_k,
            explanation_id=self.id,
            **common,
        )

    def to_json(self, *, top_k: int | None = None, include_local: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; `top_k` keeps only the k most important features and drops local values."""
        t = self.keep_top_k(top_k)
        local = None
        if include_local and t._local is not None:
            local = {
                "local_importance_values": t._local.local_importance_values,
                "engine": None if t._local.explanation is None else explanation_to_json(t._local.explanation),
            }
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "id": t.id,
            "model_task": t.model_task,
            "method": t.method,
            "space": t.space,
            "is_raw": t.is_raw,
            "is_engineered": t.is_engineered,
            "features": t._features,
            "classes": None if not t._classification else t._classes,
            "num_classes": t._num_classes,
            "global_importance_values": t.global_importance_values,
            "global_importance_rank": t.global_importance_rank,
            "ranked_names": t._ranked_names,
            "global_importance_stderr": t.global_importance_stderr,
            "per_class_values": None if t._per_class_values is None else t._per_class_values.tolist(),
            "per_class_rank": None if t._per_class_rank is None else t._per_class_rank.tolist(),
            "ranked_per_class_names": t._ranked_per_class_names,
            "expected_values": None if t._expected_values is None else t._expected_values.tolist(),
            "fidelity": t.fidelity,
            "metric": t.metric,
            "top_k": t.top_k,
            "local": local,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, top_k: int | None = None) -> GlobalExplanation:
        if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
            raise ValidationError(
                f"expected a {FORMAT} document of version {FORMAT_VERSION}, "
                f"got {doc.get('format')!r} version {doc.get('format_version')!r}"
            )
        common: dict[str, Any] = {
            "method": doc["method"],
            "model_task": doc["model_task"],
            "features": doc["features"],
            "is_raw": doc["is_raw"],
            "is_engineered": doc.get("is_engineered", False),
            "classes": doc.get("classes"),
            "num_classes": doc.get("num_classes"),
            "expected_values": doc.get("expected_values"),
            "explanation_id": doc["id"],
            "fidelity": doc.get("fidelity"),
            "space": doc.get("space"),
        }
        local = None
        if doc.get("local") is not None:
            engine = doc["local"].get("engine")
            local = LocalExplanation(
                doc["local"]["local_importance_values"],
                explanation=None if engine is None else explanation_from_json(engine),
                **common,
            )
        explanation = cls(
            doc["global_importance_values"],
            global_importance_rank=doc.get("global_importance_rank"),
            ranked_names=doc.get("ranked_names"),
            per_class_values=doc.get("per_class_values"),
            per_class_rank=doc.get("per_class_rank"),
            ranked_per_class_names=doc.get("ranked_per_class_names"),
            local_explanation=local,
            stderr=doc.get("global_importance_stderr"),
            metric=doc.get("metric"),
            top_k=doc.get("top_k"),
            **common,
        )
        return explanation.keep_top_k(top_k)
