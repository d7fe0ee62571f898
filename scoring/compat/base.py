"""What the reference design's local-and-global explainers share: explain_local / explain_global."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring.compat.constants import ModelTask, SamplingPolicy
from scoring.compat.explanation import LocalExplanation, local_from_engine
from scoring.compat.global_explanation import GlobalExplanation
from scoring.compat.inputs import Inputs, rows_of
from scoring.errors import ValidationError
from scoring.explanation import Explanation, Level


def check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValidationError(
            f"batch_size must be a positive integer, got {batch_size!r}", field="batch_size"
        )


def check_subset(explain_subset: Sequence[int] | None, n_features: int) -> list[int] | None:
    if explain_subset is None:
        return None
    subset = [int(j) for j in explain_subset]
    bad = [j for j in subset if not 0 <= j < n_features]
    if bad:
        raise ValidationError(
            f"explain_subset indexes {bad} out of range 0..{n_features - 1}", field="explain_subset"
        )
    return subset


class LocalGlobalExplainer(ABC):
    """An explainer whose global importances are aggregated from local ones.

    Subclasses set `model_` (the estimator explained), `inputs_`, `model_task_` and
    `explain_subset_`, and explain the model's own input rows in `_explain`; this class handles
    the caller's rows, folds to raw features and builds the reference design's objects.
    """

    model_: Any
    inputs_: Inputs
    model_task_: ModelTask
    explain_subset_: list[int] | None = None
    classes: Sequence[Any] | None = None

    @abstractmethod
    def _explain(self, rows: Any) -> Explanation:
        """The engine explanation of rows already in the model's input form."""

    @abstractmethod
    def _method_name(self) -> str:
        """The reference's name of the method that explained (`shap.kernel`, `mimic.lightgbm`, ...)."""

    def _fidelity(self, explanation: Explanation, rows: Any) -> dict[str, Any] | None:
        return None

    def _init_data(self) -> Any:
        return None

    def _predictions(self, rows: Any) -> tuple[Any, Any]:
        predicted = np.asarray(self.model_.predict(rows))
        proba = None
        if self.model_task_ is ModelTask.CLASSIFICATION and hasattr(self.model_, "predict_proba"):
            try:
                proba = np.asarray(self.model_.predict_proba(rows), dtype=float)
            except AttributeError:
                proba = None
        return predicted, proba

    def explain_local(
        self, evaluation_examples: Any, *, level: Level | str | None = None
    ) -> LocalExplanation:
        """Local importances of each row (a single 1-D row gives 1-D values per class).

        `level` defaults to raw features when transformations were given (our addition: 'engineered').
        """
        rows, single = rows_of(evaluation_examples)
        model_rows = self.inputs_.to_model(rows)
        engineered = self._explain(model_rows)
        chosen = self.inputs_.level(level)
        explanation = self.inputs_.finish(engineered, rows, chosen)
        folded = self.inputs_.feature_map is not None and chosen is Level.RAW
        if self.inputs_.feature_map is not None and chosen is Level.ENGINEERED:
            features: Any = list(self.inputs_.feature_map.engineered_names)
        else:
            features = None if self.inputs_.features is None else list(self.inputs_.features)
        predicted, proba = self._predictions(model_rows)
        local = local_from_engine(
            explanation,
            model_task=self.model_task_,
            method=self._method_name(),
            features=features,
            is_raw=folded or (self.inputs_.whole_pipeline and chosen is Level.RAW),
            is_engineered=self.inputs_.transformed and chosen is Level.ENGINEERED,
            single_row=single,
            classes=None if self.classes is None else list(np.asarray(self.classes, dtype=object).tolist()),
            eval_data=rows.to_numpy() if hasattr(rows, "to_numpy") else rows,
            eval_y_predicted=predicted,
            eval_y_predicted_proba=proba,
            init_data=self._init_data(),
            fidelity=self._fidelity(engineered, model_rows),
        )
        return self._subset(local)

    def _subset(self, local: LocalExplanation) -> LocalExplanation:
        if self.explain_subset_ is None:
            return local
        subset = self.explain_subset_
        kwargs = local._common()
        names = None if local._features is None else [local._features[j] for j in subset]
        return LocalExplanation(
            local._local_importance_values[..., subset],
            features=names,
            is_raw=local.is_raw,
            is_engineered=local.is_engineered,
            explanation_id=local.id,
            explanation=local.explanation,
            **kwargs,
        )

    def explain_global(
        self,
        evaluation_examples: Any,
        sampling_policy: SamplingPolicy | None = None,
        include_local: bool = True,
        batch_size: int = 100,
        *,
        level: Level | str | None = None,
    ) -> GlobalExplanation:
        """Mean |local importance| over rows (and classes); local values kept unless include_local=False.

        `sampling_policy` and `batch_size` are accepted as in the reference; every row is explained
        (in one pass; our per-row cost is bounded), so neither changes the result.
        """
        if sampling_policy is not None and not isinstance(sampling_policy, SamplingPolicy):
            raise ValidationError("sampling_policy must be a SamplingPolicy", field="sampling_policy")
        check_batch_size(batch_size)
        local = self.explain_local(evaluation_examples, level=level)
        return GlobalExplanation.from_local(local, include_local=include_local)
