"""The reference design's TabularExplainer, on our explainers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scoring.compat.base import LocalGlobalExplainer, model_task
from scoring.compat.inputs import Inputs
from scoring.explainers import ScoringExplainer, make_explainer
from scoring.explanation import Explanation


class TabularExplainer(LocalGlobalExplainer):
    """Explain `model` with the best of our explainers for it, chosen by `make_explainer`:
    linear (closed form, log-odds for classifiers), tree (TreeSHAP), exact (few features), or for
    other models amortized or kernel (sampled, with an error estimate), whichever measures better
    on held-out rows, fitted on `initialization_examples` as background.

    As in the reference design, the explainer is fitted when constructed:
    `TabularExplainer(model, x_train, features=..., classes=...)`, then `explain_global(x_test)`
    and `explain_local(x_test[0:5])`. With `transformations=`, `model` is the estimator on
    engineered features (`clf.steps[-1][1]`) and the examples are raw rows.

    `method`, `n_background`, `budget`, `fit_evaluations` and `seed` go to `make_explainer` (None
    keeps its defaults); the fitted engine explainer is `explainer_`.
    """

    def __init__(
        self,
        model: Any,
        initialization_examples: Any,
        *,
        features: Sequence[Any] | None = None,
        classes: Sequence[Any] | None = None,
        transformations: Any = None,
        method: str = "auto",
        n_background: int | None = None,
        budget: int | None = None,
        fit_evaluations: int | None = None,
        seed: int = 0,
    ):
        self.model = model
        self.initialization_examples = initialization_examples
        self.features = features
        self.classes = classes
        self.transformations = transformations
        self.method = method
        self.n_background = n_background
        self.budget = budget
        self.fit_evaluations = fit_evaluations
        self.seed = seed
        self.inputs_ = Inputs.build(
            model, initialization_examples, features=features, transformations=transformations
        )
        self.model_task_ = model_task(model)
        self.explainer_: ScoringExplainer = make_explainer(
            model,
            self.inputs_.to_model(initialization_examples),
            method,
            feature_names=self.inputs_.model_feature_names,
            class_names=None if classes is None else [str(c) for c in classes],
            n_background=n_background,
            budget=budget,
            fit_evaluations=fit_evaluations,
            seed=seed,
        )

    def _explain(self, rows: Any) -> Explanation:
        return self.explainer_.explain(rows)
