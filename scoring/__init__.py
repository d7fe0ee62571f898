"""The explanation engine: explainers, the explanation value object, schemas and bundles.

Pure Python over numpy, pandas, scikit-learn and shap; knows nothing of HTTP or BentoML.
"""

from scoring.errors import (
    BundleError,
    NotFittedError,
    ScoringError,
    UnsupportedModelError,
    ValidationError,
)
from scoring.explainers import (
    ExactExplainer,
    KernelExplainer,
    LinearExplainer,
    ScoringExplainer,
    TreeExplainer,
    load_explainer,
    make_explainer,
)
from scoring.explanation import Explanation, Level, Method, Space

__all__ = [
    "BundleError",
    "ExactExplainer",
    "Explanation",
    "KernelExplainer",
    "Level",
    "LinearExplainer",
    "Method",
    "NotFittedError",
    "ScoringError",
    "ScoringExplainer",
    "Space",
    "TreeExplainer",
    "UnsupportedModelError",
    "ValidationError",
    "load_explainer",
    "make_explainer",
]
