"""The reference design's public constants, by the names its users' code spells: parameter
names (`ExplainParams`), explanation kinds (`ExplainType`), the keys of `explanation.data()`
(`InterpretData`), `ModelTask`, `ShapValuesOutput`, `SamplingPolicy` and the exception raised for
a scenario an explainer does not support."""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Any

from scoring.errors import ScoringError


class ModelTask(StrEnum):
    """What the model does; `Unknown` lets the explainer tell (a model with `predict_proba` classifies)."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    UNKNOWN = "unknown"
    # the reference's spellings
    Classification = "classification"
    Regression = "regression"
    Unknown = "unknown"


class ShapValuesOutput(StrEnum):
    """The scale of a surrogate's values: its own margin (`DEFAULT`), its probabilities
    (`PROBABILITY`), or the teacher model's outputs (`TEACHER_PROBABILITY`)."""

    DEFAULT = "default"
    PROBABILITY = "probability"
    TEACHER_PROBABILITY = "teacher_probability"


class ExplainType:
    CLASSIFICATION = "classification"
    DATA = "data_type"
    EXPLAIN = "explain_type"
    FUNCTION = "function"
    GLOBAL = "global"
    IS_ENG = "is_engineered"
    IS_RAW = "is_raw"
    LOCAL = "local"
    METHOD = "method"
    MIMIC = "mimic"
    MODEL = "model_type"
    MODEL_CLASS = "model_class"
    MODEL_TASK = "model_task"
    PFI = "pfi"
    REGRESSION = "regression"
    SHAP = "shap"
    SHAP_KERNEL = "shap_kernel"
    SHAP_TREE = "shap_tree"
    SHAP_LINEAR = "shap_linear"
    TABULAR = "tabular"


class ExplainParams:
    """Names of explanation members and explainer parameters."""

    BATCH_SIZE = "batch_size"
    CLASSES = "classes"
    CLASSIFICATION = "classification"
    EVAL_DATA = "eval_data"
    EVAL_Y_PRED = "eval_y_predicted"
    EVAL_Y_PRED_PROBA = "eval_y_predicted_proba"
    EXPECTED_VALUES = "expected_values"
    EXPLAIN_SUBSET = "explain_subset"
    EXPLANATION_ID = "explanation_id"
    FEATURES = "features"
    GLOBAL_IMPORTANCE_NAMES = "global_importance_names"
    GLOBAL_IMPORTANCE_VALUES = "global_importance_values"
    GLOBAL_IMPORTANCE_RANK = "global_importance_rank"
    ID = "id"
    INCLUDE_LOCAL = "include_local"
    INIT_DATA = "init_data"
    IS_ENG = "is_engineered"
    IS_LOCAL_SPARSE = "is_local_sparse"
    IS_RAW = "is_raw"
    LOCAL_EXPLANATION = "local_explanation"
    LOCAL_IMPORTANCE_VALUES = "local_importance_values"
    METHOD = "method"
    MODEL_ID = "model_id"
    MODEL_TASK = "model_task"
    MODEL_TYPE = "model_type"
    NUM_CLASSES = "num_classes"
    NUM_EXAMPLES = "num_examples"
    NUM_FEATURES = "num_features"
    PER_CLASS_NAMES = "per_class_names"
    PER_CLASS_RANK = "per_class_rank"
    PER_CLASS_VALUES = "per_class_values"
    PROBABILITIES = "probabilities"
    SAMPLING_POLICY = "sampling_policy"
    SHAP_VALUES_OUTPUT = "shap_values_output"

    @classmethod
    def get_serializable(cls) -> list[str]:
        """The attribute names (of this class) of the members an explanation is saved with."""
        return [
            "CLASSES",
            "EVAL_DATA",
            "EVAL_Y_PRED",
            "EVAL_Y_PRED_PROBA",
            "EXPECTED_VALUES",
            "FEATURES",
            "GLOBAL_IMPORTANCE_RANK",
            "GLOBAL_IMPORTANCE_VALUES",
            "ID",
            "INIT_DATA",
            "IS_ENG",
            "IS_RAW",
            "LOCAL_IMPORTANCE_VALUES",
            "METHOD",
            "MODEL_TASK",
            "MODEL_TYPE",
            "NUM_CLASSES",
            "NUM_EXAMPLES",
            "NUM_FEATURES",
            "PER_CLASS_RANK",
            "PER_CLASS_VALUES",
        ]

    @staticmethod
    def get_private(name: str) -> str:
        return "_" + name


class InterpretData:
    """Keys of `explanation.data(key)`."""

    BASE_VALUE = "Base Value"
    EXPLANATION_TYPE = "explanation_type"
    EXTRA = "extra"
    GLOBAL_FEATURE_IMPORTANCE = "global_feature_importance"
    INTERCEPT = "intercept"
    LOCAL_FEATURE_IMPORTANCE = "local_feature_importance"
    MLI = "mli"
    NAMES = "names"
    OVERALL = "overall"
    PERF = "perf"
    SCORES = "scores"
    SPECIFIC = "specific"
    TYPE = "type"
    UNIVARIATE = "univariate"
    VALUE = "value"
    VALUES = "values"


class SamplingPolicy:
    """The reference's options for down-sampling evaluation rows before explaining them.

    Accepted with the reference's defaults; our explainers explain every row they are given
    (their cost per row is bounded), so `allow_eval_sampling=True` changes nothing and is
    reported by `sampled` as False.
    """

    def __init__(
        self,
        allow_eval_sampling: bool = False,
        max_dim_clustering: int = 50,
        sampling_method: str = "hdbscan",
    ):
        self.allow_eval_sampling = allow_eval_sampling
        self.max_dim_clustering = max_dim_clustering
        self.sampling_method = sampling_method
        self.sampled = False

    def __repr__(self) -> str:
        return (
            f"SamplingPolicy(allow_eval_sampling={self.allow_eval_sampling!r}, "
            f"max_dim_clustering={self.max_dim_clustering!r}, sampling_method={self.sampling_method!r})"
        )


class ScenarioNotSupportedException(ScoringError):
    """The explainer cannot do what was asked with this model or data."""

    status = 400


def task_of(value: Any) -> ModelTask:
    """A ModelTask from the reference's values (the enum or its string)."""
    try:
        return ModelTask(str(value.value if isinstance(value, Enum) else value).lower())
    except ValueError as e:
        raise ValueError(f"model_task must be one of {[t.value for t in ModelTask]}, got {value!r}") from e
