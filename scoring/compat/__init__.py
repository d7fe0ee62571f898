"""The retired reference design's interpretability API (azureml-interpret / interpret-community)
on our engine: notebooks written for it run with only their import lines changed.

    from scoring.compat import TabularExplainer, MimicExplainer, PFIExplainer
    from scoring.compat import LGBMExplainableModel, LinearExplainableModel
    from scoring.compat import SGDExplainableModel, DecisionTreeExplainableModel
    from scoring.compat import KernelScoringExplainer, save, load

Differences worth knowing: explanations say which of our methods made them (`method`), in which
output space (`space`), and, for a surrogate, how faithful it is (`fidelity`); MimicExplainer
fits its surrogate to the model's probabilities rather than to its labels; scoring explainers
are saved as verified bundles (JSON + arrays + a safely serialized model), not pickles.
"""

from scoring.compat.global_explanation import GlobalExplanation
from scoring.compat.mimic import (
    DecisionTreeExplainableModel,
    ExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    MimicExplainer,
    SGDExplainableModel,
)
from scoring.compat.pfi import PFIExplainer, UnsupportedExplanationError
from scoring.compat.results import LocalExplanation, ModelTask
from scoring.compat.scoring_explainers import (
    BundleScoringExplainer,
    DirectoryExistsError,
    KernelScoringExplainer,
    LinearScoringExplainer,
    TreeScoringExplainer,
    load,
    save,
)
from scoring.compat.tabular import TabularExplainer

__all__ = [
    "BundleScoringExplainer",
    "DecisionTreeExplainableModel",
    "DirectoryExistsError",
    "ExplainableModel",
    "GlobalExplanation",
    "KernelScoringExplainer",
    "LGBMExplainableModel",
    "LinearExplainableModel",
    "LinearScoringExplainer",
    "LocalExplanation",
    "MimicExplainer",
    "ModelTask",
    "PFIExplainer",
    "SGDExplainableModel",
    "TabularExplainer",
    "TreeScoringExplainer",
    "UnsupportedExplanationError",
    "load",
    "save",
]
