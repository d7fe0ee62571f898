"""The retired reference design's interpretability API (azureml-interpret / interpret-community)
on our engine: code and notebooks written for it run with only their import lines changed.

    from scoring.compat import TabularExplainer, MimicExplainer, PFIExplainer
    from scoring.compat import LGBMExplainableModel, LinearExplainableModel
    from scoring.compat import SGDExplainableModel, DecisionTreeExplainableModel
    from scoring.compat import save_explanation, load_explanation
    from scoring.compat import KernelScoringExplainer, save, load

Every module path of the reference (`interpret_community.mimic.mimic_explainer`,
`interpret.ext.blackbox`, `azureml.interpret.scoring.scoring_explainer`, ...) maps to this one
package. MIGRATION.md at the repository root lists what differs and why.
"""

from scoring.compat.constants import (
    ExplainParams,
    ExplainType,
    InterpretData,
    ModelTask,
    SamplingPolicy,
    ScenarioNotSupportedException,
    ShapValuesOutput,
)
from scoring.compat.explanation import ExplanationBase, LocalExplanation
from scoring.compat.featurize import ResetIndex
from scoring.compat.global_explanation import GlobalExplanation
from scoring.compat.mimic import MimicExplainer
from scoring.compat.models import CompatValueError
from scoring.compat.pfi import PFIExplainer, UnsupportedExplanationError
from scoring.compat.scoring_explainers import (
    BundleScoringExplainer,
    DirectoryExistsError,
    KernelScoringExplainer,
    LinearScoringExplainer,
    PickleNotSupportedError,
    TreeScoringExplainer,
    load,
    save,
)
from scoring.compat.serialization import load_explanation, save_explanation
from scoring.compat.surrogates import (
    SMALL_DATA_THRESHOLD,
    DecisionTreeExplainableModel,
    ExplainableModel,
    LGBMExplainableModel,
    LinearExplainableModel,
    SGDExplainableModel,
)
from scoring.compat.tabular import TabularExplainer

__all__ = [
    "SMALL_DATA_THRESHOLD",
    "BundleScoringExplainer",
    "CompatValueError",
    "DecisionTreeExplainableModel",
    "DirectoryExistsError",
    "ExplainParams",
    "ExplainType",
    "ExplainableModel",
    "ExplanationBase",
    "GlobalExplanation",
    "InterpretData",
    "KernelScoringExplainer",
    "LGBMExplainableModel",
    "LinearExplainableModel",
    "LinearScoringExplainer",
    "LocalExplanation",
    "MimicExplainer",
    "ModelTask",
    "PFIExplainer",
    "PickleNotSupportedError",
    "ResetIndex",
    "SGDExplainableModel",
    "SamplingPolicy",
    "ScenarioNotSupportedException",
    "ShapValuesOutput",
    "TabularExplainer",
    "TreeScoringExplainer",
    "UnsupportedExplanationError",
    "load",
    "load_explanation",
    "save",
    "save_explanation",
]
