"""What the reference design's local-and-global explainers share: explain_local / explain_global."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sklearn.base import is_classifier

from scoring.compat.global_explanation import GlobalExplanation
from scoring.compat.inputs import Inputs
from scoring.compat.results import LocalExplanation, ModelTask
from scoring.explanation import Explanation, Level


def model_task(model: Any) -> ModelTask:
    return ModelTask.CLASSIFICATION if is_classifier(model) else ModelTask.REGRESSION


class LocalGlobalExplainer(ABC):
    """An explainer whose global importances are aggregated from local ones.

    Subclasses set `model`, `inputs_` and `model_task_` when built, and explain the model's own
    input rows in `_explain`; this class transforms raw rows, folds to raw features and wraps the
    result in the reference design's objects.
    """

    model: Any
    inputs_: Inputs
    model_task_: ModelTask

    @abstractmethod
    def _explain(self, rows: Any) -> Explanation:
        """The engine explanation of rows already in the model's input form."""

    def _fidelity(self, explanation: Explanation, rows: Any) -> dict[str, Any] | None:
        return None

    def explain_local(
        self, evaluation_examples: Any, *, level: Level | str | None = None
    ) -> LocalExplanation:
        """Local importances of each row; `level` defaults to raw features with transformations."""
        rows = self.inputs_.to_model(evaluation_examples)
        engineered = self._explain(rows)
        explanation = self.inputs_.finish(engineered, evaluation_examples, level)
        return LocalExplanation(
            explanation,
            model_task=self.model_task_,
            fidelity=self._fidelity(engineered, rows),
        )

    def explain_global(
        self,
        evaluation_examples: Any,
        *,
        include_local: bool = True,
        level: Level | str | None = None,
    ) -> GlobalExplanation:
        """Mean |local importance| over rows (and classes); local values kept unless include_local=False."""
        explanation = GlobalExplanation.from_local(self.explain_local(evaluation_examples, level=level))
        if not include_local:
            explanation.local = None
        return explanation
