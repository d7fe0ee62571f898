"""The reference design's PFIExplainer: permutation feature importance, global only.

A feature's importance is how much the metric worsens when that feature's column is shuffled
(one shuffle, as the reference; with `n_repeats` > 1 the mean over that many shuffles, and the
standard error of that mean). With `transformations=`, raw columns are shuffled before the
transformation, so importances are of raw features directly, without folding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from sklearn import metrics
from tqdm.auto import tqdm

from scoring.compat.base import check_subset
from scoring.compat.constants import ModelTask, ScenarioNotSupportedException
from scoring.compat.global_explanation import GlobalExplanation
from scoring.compat.inputs import Inputs, rows_of
from scoring.compat.models import CompatValueError, adapt_model
from scoring.errors import ValidationError

# the reference design's metric names; the error metrics are those where lower is better
METRICS: dict[str, Callable[..., float]] = {
    "mean_absolute_error": metrics.mean_absolute_error,
    "explained_variance_score": metrics.explained_variance_score,
    "mean_squared_error": metrics.mean_squared_error,
    "mean_squared_log_error": metrics.mean_squared_log_error,
    "median_absolute_error": metrics.median_absolute_error,
    "r2_score": metrics.r2_score,
    "average_precision_score": metrics.average_precision_score,
    "f1_score": metrics.f1_score,
    "fbeta_score": metrics.fbeta_score,
    "precision_score": metrics.precision_score,
    "recall_score": metrics.recall_score,
    "accuracy_score": metrics.accuracy_score,
    "roc_auc_score": metrics.roc_auc_score,
    "log_loss": metrics.log_loss,
}
ERROR_METRICS = frozenset(
    {
        "mean_absolute_error",
        "mean_squared_error",
        "mean_squared_log_error",
        "median_absolute_error",
        "log_loss",
    }
)


class UnsupportedExplanationError(ScenarioNotSupportedException):
    """The explainer cannot give this kind of explanation."""


class PFIExplainer:
    """Permutation feature importance of `model` against true labels.

    `explain_global(x, true_labels=y)` returns a `GlobalExplanation` (no local values, no expected
    values). `metric` is a name from the reference design (`"f1_score"`, `"mean_absolute_error"`,
    ...) or a function `metric(y_true, y_pred, **metric_args)`; for a function where lower is
    better, set `is_error_metric=True`. The default is F1 with micro averaging for classifiers
    (accuracy, for single-label data) and mean absolute error for regressors, as in the reference.
    `for_classifier_use_predict_proba=True` scores class probabilities instead of labels (for
    `log_loss`, `roc_auc_score`, ...; binary models pass the positive class's probability to
    every metric but log_loss).

    The reference's `is_function`, `explain_subset` (only those feature indexes are shuffled and
    reported), `allow_all_transformations`, `model_task` and `show_progress` (a progress bar over
    features) keep their meaning; `seed` seeds the shuffles.
    """

    def __init__(
        self,
        model: Any,
        is_function: bool = False,
        metric: str | Callable[..., float] | None = None,
        metric_args: Mapping[str, Any] | None = None,
        is_error_metric: bool = False,
        explain_subset: Sequence[int] | None = None,
        features: Sequence[Any] | None = None,
        classes: Sequence[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
        seed: int = 0,
        for_classifier_use_predict_proba: bool = False,
        show_progress: bool = True,
        model_task: ModelTask | str = ModelTask.UNKNOWN,
        *,
        n_repeats: int = 1,
    ):
        if n_repeats < 1:
            raise ValidationError(f"n_repeats must be at least 1, got {n_repeats}", field="n_repeats")
        self.model = model
        self.is_function = is_function
        self.explain_subset = explain_subset
        self.allow_all_transformations = allow_all_transformations
        self.show_progress = show_progress
        self.model_task = model_task
        self.features = features
        self.classes = classes
        self.metric = metric
        self.metric_args = dict(metric_args or {})
        self.is_error_metric = is_error_metric
        self.transformations = transformations
        self.for_classifier_use_predict_proba = for_classifier_use_predict_proba
        self.n_repeats = n_repeats
        self.seed = seed
        if classes is not None and is_function:
            raise CompatValueError("Classes is specified but function was predict, not predict_proba.")
        if classes is not None and not hasattr(model, "predict_proba"):
            raise CompatValueError(
                "Classes is specified but model does not define predict_proba, only predict."
            )
        if classes is not None:
            try:
                model.predict_proba  # noqa: B018  (SVC(probability=False) raises on access)
            except AttributeError as e:
                raise CompatValueError(
                    "Classes is specified but model does not define predict_proba, only predict."
                ) from e
        if isinstance(metric, str) and metric not in METRICS:
            raise ValidationError(
                f"unknown metric {metric!r}; expected one of {sorted(METRICS)} or a function", field="metric"
            )

    def _resolve_metric(self) -> tuple[str, Callable[..., float], dict[str, Any], bool]:
        if self.metric is None:
            if self.model_task_ == ModelTask.CLASSIFICATION:
                return "f1_score", metrics.f1_score, {"average": "micro", **self.metric_args}, False
            return "mean_absolute_error", metrics.mean_absolute_error, dict(self.metric_args), True
        if isinstance(self.metric, str):
            if self.metric not in METRICS:
                raise ValidationError(
                    f"unknown metric {self.metric!r}; expected one of {sorted(METRICS)} or a function",
                    field="metric",
                )
            error = self.metric in ERROR_METRICS or self.is_error_metric
            return self.metric, METRICS[self.metric], dict(self.metric_args), error
        if not callable(self.metric):
            raise ValidationError(f"metric must be a name or a function, got {self.metric!r}", field="metric")
        name = getattr(self.metric, "__name__", type(self.metric).__name__)
        return name, self.metric, dict(self.metric_args), self.is_error_metric

    def _predict(self, inputs: Inputs, X: Any) -> np.ndarray:
        rows = inputs.to_model(X)
        if self.for_classifier_use_predict_proba and self.model_task_ == ModelTask.CLASSIFICATION:
            proba = np.asarray(self.model_.predict_proba(rows), dtype=float)
            if proba.shape[1] == 2 and self.metric_name_ != "log_loss":
                return proba[:, 1]
            return proba
        return np.asarray(self.model_.predict(rows)).ravel()

    def _score(self, y: np.ndarray, inputs: Inputs, X: Any) -> float:
        return float(self.metric_fn_(y, self._predict(inputs, X), **self.metric_args_))

    def explain_global(self, evaluation_examples: Any, true_labels: Any) -> GlobalExplanation:
        """Importance of each feature: the mean drop of the metric when its column is shuffled."""
        rows, _ = rows_of(evaluation_examples)
        inputs = Inputs.build(
            self.model,
            rows,
            features=self.features,
            transformations=self.transformations,
            allow_all_transformations=self.allow_all_transformations,
        )
        self.model_, self.model_task_ = adapt_model(
            inputs.wrap(self.model, rows, is_function=self.is_function),
            inputs.to_model(rows),
            is_function=self.is_function,
            model_task=self.model_task,
            classes=None,
        )
        self.metric_name_, self.metric_fn_, self.metric_args_, self.lower_is_better_ = self._resolve_metric()
        y = np.asarray(true_labels).ravel()
        if len(y) != len(rows):
            raise ValidationError(f"{len(y)} true labels for {len(rows)} rows", field="true_labels")
        base = self._score(y, inputs, rows)
        rng = np.random.default_rng(self.seed)
        m = rows.shape[1]
        columns = check_subset(self.explain_subset, m) or list(range(m))
        drops = np.empty((len(columns), self.n_repeats))
        for i, j in enumerate(
            tqdm(columns, desc="PFIExplainer", disable=not self.show_progress, leave=False)
        ):
            for r in range(self.n_repeats):
                shuffled = _shuffle_column(rows, j, rng)
                score = self._score(y, inputs, shuffled)
                drops[i, r] = score - base if self.lower_is_better_ else base - score
        stderr = drops.std(axis=1, ddof=1) / np.sqrt(self.n_repeats) if self.n_repeats > 1 else None
        names = None if inputs.features is None else [inputs.features[j] for j in columns]
        classes = None
        if self.model_task_ is ModelTask.CLASSIFICATION:
            classes = self.classes if self.classes is not None else list(getattr(self.model_, "classes_", []))
        return GlobalExplanation(
            drops.mean(axis=1),
            features=names,
            model_task=self.model_task_,
            method="pfi",
            is_raw=inputs.transformed or inputs.whole_pipeline,
            classes=classes,
            stderr=stderr,
            metric=self.metric_name_,
            eval_data=rows.to_numpy() if hasattr(rows, "to_numpy") else rows,
        )

    def explain_local(self, evaluation_examples: Any) -> NoReturn:
        raise UnsupportedExplanationError(
            "PFIExplainer gives global importances only: permutation importance is a property of a "
            "whole dataset, not of one row; use TabularExplainer or MimicExplainer for local explanations"
        )


def _shuffle_column(X: Any, j: int, rng: np.random.Generator) -> Any:
    if isinstance(X, pd.DataFrame):
        out = X.copy()
        out.iloc[:, j] = rng.permutation(out.iloc[:, j].to_numpy())
        return out
    array = np.array(X, copy=True)
    array[:, j] = rng.permutation(array[:, j])
    return array
