"""The reference design's MimicExplainer: a global surrogate trained on the model's outputs,
explained exactly, with its fidelity to the teacher measured on held-out rows and reported.

The surrogate (see `scoring.compat.surrogates`) is explained in its own margin space by
default: log-odds for a classifier (for two classes, class 0's values are the negatives of
class 1's), the prediction for a regressor. `shap_values_output='probability'` rescales each
row's values to the surrogate's probabilities, `'teacher_probability'` to the teacher's own
outputs (probabilities, or predictions for a regressor), so that they add up to what the
teacher said; the fidelity figures say how far the surrogate is from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from scoring.compat.base import LocalGlobalExplainer, check_subset
from scoring.compat.constants import ModelTask, SamplingPolicy, ShapValuesOutput
from scoring.compat.featurize import ResetIndex, SurrogateFeatures, with_index
from scoring.compat.global_explanation import GlobalExplanation
from scoring.compat.inputs import Inputs, rows_of
from scoring.compat.models import adapt_model
from scoring.compat.surrogates import (
    FAMILIES,
    SMALL_DATA_THRESHOLD,
    DecisionTreeExplainableModel,
    ExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    SGDExplainableModel,
    SurrogateModel,
    probabilities,
)
from scoring.errors import ValidationError
from scoring.explainers import ScoringExplainer, make_explainer
from scoring.explanation import Explanation, Level, Method, Space

__all__ = [
    "SMALL_DATA_THRESHOLD",
    "DecisionTreeExplainableModel",
    "ExplainableModel",
    "LGBMExplainableModel",
    "LinearExplainableModel",
    "MimicExplainer",
    "SGDExplainableModel",
]

# augmented training rows stop growing here, whatever max_num_of_augmentations allows
MAX_AUGMENTED_ROWS = 10_000
# noise added to a numeric column of an augmented copy, as a share of the column's spread
NOISE_SCALE = 0.1


def rescale(values: np.ndarray, target: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Values (n, M, K) scaled per row and output so they sum to target - base (n, K); a row
    whose values sum to zero gets the difference spread evenly."""
    total = values.sum(axis=1)
    diff = target - base[None, :]
    safe = np.abs(total) > 1e-12
    factor = np.where(safe, diff / np.where(safe, total, 1.0), 0.0)
    spread = np.where(safe, 0.0, diff / values.shape[1])
    return values * factor[:, None, :] + spread[:, None, :]


class MimicExplainer(LocalGlobalExplainer):
    """Train `explainable_model` (one of the four families) on `model`'s outputs over the
    initialization examples and explain it; `surrogate_model` is the fitted surrogate.

    The reference's keywords keep their meaning (`augment_data`, default True, adds up to
    `max_num_of_augmentations` noisy copies of the rows, labelled by the teacher; `features`,
    `classes`, `transformations`, `allow_all_transformations`, `explain_subset`, `model_task`,
    `is_function`, `shap_values_output`; `reset_index='ignore'`, the default, drops a frame's
    index before the teacher sees the rows, 'reset' (or True) passes it on to the teacher and
    makes its levels the surrogate's last columns, 'reset_teacher' passes it on to the teacher
    while the surrogate uses the columns only; `categorical_features` that hold strings are given
    to the surrogate as ordinal codes). Date and datetime columns are given to the surrogate as
    the reference's timestamp featurizer made them (see `scoring.compat.featurize`), and their
    derived columns are folded back onto them. Ours: `holdout`, the share of rows
    kept out of training to measure fidelity (`fidelity_`, R² against the teacher's outputs, and
    `fidelity_report_`), and `seed`.
    """

    def __init__(
        self,
        model: Any,
        initialization_examples: Any,
        explainable_model: type[ExplainableModel],
        explainable_model_args: Mapping[str, Any] | None = None,
        is_function: bool = False,
        augment_data: bool = True,
        max_num_of_augmentations: int = 10,
        explain_subset: Sequence[int] | None = None,
        features: Sequence[Any] | None = None,
        classes: Sequence[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
        shap_values_output: ShapValuesOutput | str = ShapValuesOutput.DEFAULT,
        categorical_features: Sequence[Any] | None = None,
        model_task: ModelTask | str = ModelTask.UNKNOWN,
        reset_index: str = "ignore",
        *,
        holdout: float = 0.2,
        seed: int = 0,
    ):
        if not (isinstance(explainable_model, type) and issubclass(explainable_model, ExplainableModel)):
            raise ValidationError(
                f"explainable_model must be one of {[f.__name__ for f in FAMILIES]}, "
                f"got {explainable_model!r}",
                field="explainable_model",
            )
        if not 0 <= holdout < 1:
            raise ValidationError(f"holdout must be in [0, 1), got {holdout}", field="holdout")
        self.model = model
        self.initialization_examples = initialization_examples
        self.explainable_model = explainable_model
        self.explainable_model_args = dict(explainable_model_args or {})
        self.is_function = is_function
        self.augment_data = augment_data
        self.max_num_of_augmentations = max_num_of_augmentations
        self.explain_subset = explain_subset
        self.features = features
        self.classes = classes
        self.transformations = transformations
        self.allow_all_transformations = allow_all_transformations
        self.shap_values_output = ShapValuesOutput(shap_values_output)
        self.categorical_features = categorical_features
        self.model_task = model_task
        self.reset_index = reset_index
        self.reset_index_ = ResetIndex.of(reset_index)
        self.holdout = holdout
        self.seed = seed
        self.args_ = explainable_model.split_args(self.explainable_model_args)
        rows, _ = rows_of(initialization_examples)
        # 'reset': the index levels are the surrogate's last columns, and are named as such
        reset = (
            self.reset_index_ is ResetIndex.RESET
            and transformations is None
            and isinstance(rows, pd.DataFrame)
        )
        self.inputs_ = Inputs.build(
            model,
            with_index(rows) if reset else rows,
            features=features,
            transformations=transformations,
            allow_all_transformations=allow_all_transformations,
        )
        self._reset = reset
        self.model_, self.model_task_ = adapt_model(
            self.inputs_.wrap(model, rows, is_function=is_function),
            self.inputs_.to_model(rows),
            is_function=is_function,
            model_task=model_task,
            classes=classes,
        )
        self._fit(rows)
        n_features = len(self.surrogate_features_.names) if self.surrogate_features_.active else None
        self.explain_subset_ = check_subset(explain_subset, n_features or self.X_fit_.shape[1])

    # -- fitting ---------------------------------------------------------------------------------
    def _teacher(self, X: np.ndarray) -> np.ndarray:
        """(n, K): the teacher's probabilities, or (n, 1) predictions."""
        if self.model_task_ is ModelTask.CLASSIFICATION:
            return np.asarray(self.model_.predict_proba(X), dtype=float)
        return np.asarray(self.model_.predict(X), dtype=float).reshape(len(X), -1)[:, :1]

    def _surrogate_input(self, rows: Any) -> np.ndarray:
        """The teacher's rows as the surrogate's numeric columns."""
        if self.surrogate_features_.active:
            return _numeric(self.surrogate_features_.transform(rows))
        return _numeric(rows)

    def _fit(self, rows: Any) -> None:
        if isinstance(rows, pd.DataFrame) and self.reset_index_ is ResetIndex.IGNORE:
            rows = rows.reset_index(drop=True)  # the reference's 'ignore': the index is not passed on
        n = len(rows)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(n)
        n_holdout = round(self.holdout * n) if n >= 10 else 0
        fit_rows = _take(rows, order[n_holdout:])
        train = fit_rows
        if self.augment_data:
            copies = min(
                self.max_num_of_augmentations, max(0, MAX_AUGMENTED_ROWS // max(len(fit_rows), 1) - 1)
            )
            train = augment(fit_rows, copies, seed=self.seed)
        train_rows = self.inputs_.to_model(train)
        fit_model_rows = self.inputs_.to_model(fit_rows)
        self.surrogate_features_ = SurrogateFeatures.fit(
            fit_model_rows if self.inputs_.preprocessor is None else None,
            reset=self._reset,
            categorical_features=self.categorical_features,
        )
        X_train = self._surrogate_input(train_rows)
        teacher = self._teacher(train_rows)
        classification = self.model_task_ is ModelTask.CLASSIFICATION
        k = teacher.shape[1]
        family = self.explainable_model
        if classification:
            regressors = family.fit_classes(X_train, teacher, args=self.args_, seed=self.seed)
        else:
            regressors = [family.fit_regressor(X_train, teacher[:, 0], args=self.args_, seed=self.seed)]
        self.surrogate_model = SurrogateModel(
            regressors, classification=classification, n_classes=k, method=family.method
        )
        self.raw_fit_rows_ = fit_rows
        self.X_fit_ = self._surrogate_input(fit_model_rows)
        names = (
            self.surrogate_features_.derived_names
            if self.surrogate_features_.active
            else self.inputs_.model_feature_names
        )
        self.explainers_: list[ScoringExplainer] = [
            make_explainer(r, self.X_fit_, feature_names=names, seed=self.seed) for r in regressors
        ]
        self.teacher_base_ = teacher.mean(axis=0)
        self.n_training_rows_ = len(X_train)
        scored_on = "heldout" if n_holdout else "training"
        X_score = self.inputs_.to_model(_take(rows, order[:n_holdout])) if n_holdout else train_rows
        self.fidelity_report_ = {
            "surrogate": family.__name__,
            "metric": "r2",
            "measured_on": scored_on,
            **_prefixed(scored_on, self._score(X_score)),
        }
        self.fidelity_ = self.fidelity_report_[f"{scored_on}_r2"]

    def _surrogate_outputs(self, X: np.ndarray) -> np.ndarray:
        margins = self.surrogate_model.margins(X)
        if self.model_task_ is ModelTask.CLASSIFICATION:
            return probabilities(margins, multiclass=self.surrogate_model.multiclass)
        return margins

    def _score(self, X: Any) -> dict[str, Any]:
        """R² of the surrogate's outputs (probabilities for a classifier) against the teacher's."""
        teacher, surrogate = self._teacher(X), self._surrogate_outputs(self._surrogate_input(X))
        scores: dict[str, Any] = {"rows": len(X)}
        cols = [1] if teacher.shape[1] == 2 else list(range(teacher.shape[1]))
        scores["r2"] = float(r2_score(teacher[:, cols], surrogate[:, cols])) if len(X) > 1 else None
        if self.model_task_ is ModelTask.CLASSIFICATION:
            scores["label_agreement"] = float((teacher.argmax(axis=1) == surrogate.argmax(axis=1)).mean())
        return scores

    def get_surrogate_model_replication_measure(self, training_data: Any) -> float:
        """How well the surrogate replicates the teacher on these rows: label accuracy for a
        classifier, R² of the predictions for a regressor (the reference's measure)."""
        rows = self.inputs_.to_model(rows_of(training_data)[0])
        teacher, X = self._teacher(rows), self._surrogate_input(rows)
        if self.model_task_ is ModelTask.CLASSIFICATION:
            return float((teacher.argmax(axis=1) == self._surrogate_outputs(X).argmax(axis=1)).mean())
        return float(r2_score(teacher[:, 0], self.surrogate_model.predict(X)))

    # -- explaining ------------------------------------------------------------------------------
    def _method_name(self) -> str:
        return self.explainable_model.method

    def _init_data(self) -> Any:
        rows, _ = rows_of(self.initialization_examples)
        return rows.to_numpy() if hasattr(rows, "to_numpy") else rows

    def _explain(self, rows: Any) -> Explanation:
        X = self._surrogate_input(rows)
        parts = [e.explain(X) for e in self.explainers_]
        values = np.concatenate([p.values for p in parts], axis=2)
        base = np.concatenate([p.base_values for p in parts])
        classification = self.model_task_ is ModelTask.CLASSIFICATION
        if classification and not self.surrogate_model.multiclass:
            values, base = np.concatenate([-values, values], axis=2), np.concatenate([-base, base])
        outputs = base[None, :] + values.sum(axis=1)
        space = Space.LOG_ODDS if classification else Space.RAW
        if self.shap_values_output is not ShapValuesOutput.DEFAULT:
            if self.shap_values_output is ShapValuesOutput.TEACHER_PROBABILITY:
                target, new_base = self._teacher(rows), self.teacher_base_
            else:
                multiclass = self.surrogate_model.multiclass
                target = probabilities(outputs, multiclass=multiclass) if classification else outputs
                new_base = probabilities(base[None, :], multiclass=multiclass)[0] if classification else base
            values, base, outputs = rescale(values, target, new_base), new_base, target
            space = Space.PROBABILITY if classification else Space.RAW
        derived = self.surrogate_features_
        names = (derived.derived_names if derived.active else self.inputs_.model_feature_names) or tuple(
            str(j) for j in range(X.shape[1])
        )
        k = values.shape[2]
        output_names = tuple(
            str(c)
            for c in (self.classes if self.classes is not None and len(self.classes) == k else range(k))
        )
        explanation = Explanation(
            values=values,
            base_values=base,
            outputs=outputs,
            feature_names=tuple(names),
            output_names=output_names if classification else ("prediction",),
            space=space,
            method=Method.SURROGATE,
            level=Level.ENGINEERED,
            data=X,
        )
        if not derived.active:
            return explanation
        # the derived columns (date parts, codes) folded back onto the columns they came from
        raw = derived.columns(rows).to_numpy(dtype=object)
        return explanation.fold(derived.matrix, derived.names, raw_data=raw)

    def _fidelity(self, explanation: Explanation, rows: Any) -> dict[str, Any]:
        return {**self.fidelity_report_, **_prefixed("evaluation", self._score(rows))}

    def explain_global(
        self,
        evaluation_examples: Any = None,
        sampling_policy: SamplingPolicy | None = None,
        include_local: bool = True,
        batch_size: int = 100,
        *,
        level: Level | str | None = None,
    ) -> GlobalExplanation:
        """As the reference: without rows, the surrogate's importances over its training rows
        (and no local values)."""
        if evaluation_examples is None:
            return super().explain_global(
                self.raw_fit_rows_, sampling_policy, include_local=False, batch_size=batch_size, level=level
            )
        return super().explain_global(
            evaluation_examples,
            sampling_policy,
            include_local=include_local,
            batch_size=batch_size,
            level=level,
        )


def _numeric(X: Any) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        try:
            return X.astype(float)
        except (TypeError, ValueError) as e:
            raise ValidationError(
                "surrogate models need numeric inputs; pass transformations= to encode the raw columns",
                field="initialization_examples",
            ) from e
    return X.astype(float)


def _prefixed(prefix: str, scores: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in scores.items()}


def _take(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx]
    return np.asarray(X)[idx]


def augment(X: Any, copies: int, *, seed: int = 0) -> Any:
    """X followed by `copies` noisy copies of itself (same type as X: a frame or an array)."""
    if copies <= 0:
        return X
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    rng = np.random.default_rng(seed)
    noisy = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
        and frame[c].nunique() > 2
    ]
    parts = [frame]
    for _ in range(copies):
        copy = frame.copy()
        for c in noisy:
            values = frame[c].to_numpy(dtype=float)
            spread = np.nanstd(values) * NOISE_SCALE
            copy[c] = values + rng.normal(0.0, spread, size=len(values))
        parts.append(copy)
    if isinstance(X, pd.DataFrame):
        return pd.concat(parts)  # the rows' index repeats, for a model that reads it
    out = pd.concat(parts, ignore_index=True)
    array = np.asarray(X)
    return out.to_numpy(dtype=float if array.dtype.kind in "biuf" else object)
