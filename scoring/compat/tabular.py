"""The reference design's TabularExplainer, on our explainers.

Which method, as in the reference: closed-form linear SHAP for linear models, TreeSHAP for tree
ensembles, KernelSHAP for everything else, over the reference's background (the initialization
examples, summarized by `shap.kmeans` into `nclusters` weighted rows when there are more than
10 x nclusters of them; a `shap.kmeans` summary passed in is used as it is) with the reference's
budget of 2M + 2048 coalitions (every coalition for M <= 11: then the values are exact for that
background). `method=` picks another of ours ('exact', 'amortized', ...).

Constructing returns at once; the explainer is fitted when first needed (`explainer_`), with a
progress bar. `KernelScoringExplainer(tabular_explainer)` serves that same fitted explainer, so
the training-time and scoring-time explanations agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scoring.compat.base import LocalGlobalExplainer, check_subset
from scoring.compat.constants import ModelTask, ShapValuesOutput
from scoring.compat.inputs import Inputs, rows_of
from scoring.compat.models import CompatValueError, adapt_model
from scoring.explainers import ScoringExplainer, choose_method, make_explainer
from scoring.explanation import Explanation, Method, Space

# the reference's `nclusters` and its rule for summarizing initialization examples
DEFAULT_CLUSTERS = 10
# the reference's kernel budget ('auto' nsamples): 2M + 2048 coalitions
AUTO_BUDGET_BASE = 2048

METHOD_NAMES = {
    Method.LINEAR: "shap.linear",
    Method.TREE: "shap.tree",
    Method.KERNEL: "shap.kernel",
    Method.EXACT: "shap.exact",
    Method.AMORTIZED: "shap.amortized",
}


def reference_background(rows: Any, nclusters: int) -> tuple[np.ndarray, int] | None:
    """Rows whose empirical distribution is the reference's weighted background, and how many
    distinct rows it has (None for non-numeric rows: our own summary is used then)."""
    total = None
    if hasattr(rows, "data") and hasattr(rows, "weights") and not isinstance(rows, np.ndarray):
        data, weights = np.asarray(rows.data, dtype=float), np.asarray(rows.weights, dtype=float)
    else:
        data = np.asarray(rows)
        if data.dtype.kind not in "biuf" or np.isnan(data.astype(float)).any():
            return None
        data = data.astype(float)
        if len(data) <= 10 * nclusters:
            return data, len(np.unique(data, axis=0))
        import shap

        summary, total = shap.kmeans(data, nclusters, round_values=True), len(data)
        data, weights = np.asarray(summary.data, dtype=float), np.asarray(summary.weights, dtype=float)
    # the summary's weights are cluster sizes over the rows summarized: exact counts when the
    # number of rows is known, else the smallest common denominator of the weights
    n = total if total is not None else _denominator(weights / weights.sum())
    counts = np.maximum(1, np.round(weights / weights.sum() * n)).astype(int)
    return np.repeat(data, counts, axis=0), len(np.unique(data, axis=0))


def _denominator(weights: np.ndarray, limit: int = 100_000) -> int:
    from fractions import Fraction
    from math import lcm

    n = 1
    for w in weights:
        n = lcm(n, Fraction(float(w)).limit_denominator(limit).denominator)
        if n > limit:
            return limit
    return n


class TabularExplainer(LocalGlobalExplainer):
    """Explain `model` (an estimator, anything with predict / predict_proba, or with
    `is_function=True` a prediction function) on `initialization_examples`.

    The reference's keywords keep their meaning: `features` and `classes` name columns and
    classes, `transformations` (with `allow_all_transformations`) explains raw columns through a
    preprocessor, `explain_subset` keeps only those feature indexes, `model_task` says
    classification or regression, `shap_values_output='probability'` explains a classifier's
    probabilities (by KernelSHAP, when the model's own method works in margins), `nclusters` and
    `nsamples` size the kernel background and budget. `use_gpu` and `categorical_features` are
    accepted and change nothing (no GPU path here; categorical columns are read from the data).
    Ours: `method` ('auto' or one of scoring.explanation.Method), `n_background`, `budget`,
    `fit_evaluations`, `seed`.
    """

    def __init__(
        self,
        model: Any,
        initialization_examples: Any,
        explain_subset: Sequence[int] | None = None,
        features: Sequence[Any] | None = None,
        classes: Sequence[Any] | None = None,
        transformations: Any = None,
        allow_all_transformations: bool = False,
        model_task: ModelTask | str = ModelTask.UNKNOWN,
        use_gpu: bool = False,
        *,
        is_function: bool = False,
        shap_values_output: ShapValuesOutput | str = ShapValuesOutput.DEFAULT,
        nclusters: int = DEFAULT_CLUSTERS,
        nsamples: int | str = "auto",
        categorical_features: Sequence[Any] | None = None,
        method: str = "auto",
        n_background: int | None = None,
        budget: int | None = None,
        fit_evaluations: int | None = None,
        seed: int = 0,
    ):
        self.model = model
        self.initialization_examples = initialization_examples
        self.explain_subset = explain_subset
        self.features = features
        self.classes = classes
        self.transformations = transformations
        self.allow_all_transformations = allow_all_transformations
        self.model_task = model_task
        self.use_gpu = use_gpu
        self.is_function = is_function
        self.shap_values_output = ShapValuesOutput(shap_values_output)
        self.nclusters = nclusters
        self.nsamples = nsamples
        self.categorical_features = categorical_features
        self.method = method
        self.n_background = n_background
        self.budget = budget
        self.fit_evaluations = fit_evaluations
        self.seed = seed
        if method != "auto":
            Method(method)  # an unknown method is an error at once
        self.inputs_ = Inputs.build(
            model,
            initialization_examples,
            features=features,
            transformations=transformations,
            allow_all_transformations=allow_all_transformations,
        )
        self.model_, self.model_task_ = adapt_model(
            self.inputs_.wrap(model, initialization_examples, is_function=is_function),
            self.inputs_.to_model(initialization_examples),
            is_function=is_function,
            model_task=model_task,
            classes=classes,
        )
        n_outputs = (
            len(getattr(self.model_, "classes_", ())) if self.model_task_ is ModelTask.CLASSIFICATION else 1
        )
        if classes is not None and self.model_task_ is ModelTask.CLASSIFICATION and len(classes) != n_outputs:
            raise CompatValueError(f"{len(classes)} classes given for a model with {n_outputs} outputs")
        n_features = (
            self.inputs_.feature_map.matrix.shape[1]
            if self.inputs_.feature_map
            else len(self.inputs_.raw_names)
        )
        self.explain_subset_ = check_subset(explain_subset, n_features)
        self._explainer: ScoringExplainer | None = None

    # -- lazy fitting ----------------------------------------------------------------------------
    def _chosen_method(self, n_features: int) -> Method:
        if self.method != "auto":
            return Method(self.method)
        chosen = choose_method(self.model_, n_features)
        wants_probability = self.shap_values_output is not ShapValuesOutput.DEFAULT
        if chosen in (Method.LINEAR, Method.TREE) and not (
            wants_probability and self.model_task_ is ModelTask.CLASSIFICATION
        ):
            return chosen
        return Method.KERNEL

    @property
    def explainer_(self) -> ScoringExplainer:
        """The fitted engine explainer (fitted on first use)."""
        if self._explainer is None:
            self._explainer = self._fit()
        return self._explainer

    def _fit(self) -> ScoringExplainer:
        # two steps: the background (the reference's k-means summary) and the explainer's own fit
        with tqdm(
            total=2, desc="TabularExplainer: background", unit="step", mininterval=0, leave=False
        ) as bar:
            return self._fit_steps(bar)

    def _fit_steps(self, bar: Any) -> ScoringExplainer:
        rows, _ = rows_of(self.initialization_examples)
        model_rows = self.inputs_.to_model(rows)
        if hasattr(self.initialization_examples, "weights") and not hasattr(rows, "columns"):
            model_rows = self.initialization_examples  # a shap summary, used as it is
        n_features = np.shape(rows_of(model_rows)[0])[1]
        method = self._chosen_method(n_features)
        background, n_background = rows_of(model_rows)[0], self.n_background
        budget = self.budget
        if method is Method.KERNEL:
            reference = reference_background(model_rows, self.nclusters)
            if reference is not None and self.n_background is None:
                background, n_background = reference
                if hasattr(model_rows, "columns"):  # a model that takes frames gets frames
                    background = pd.DataFrame(background, columns=model_rows.columns).astype(
                        model_rows.dtypes.to_dict()
                    )
            elif n_background is None:
                n_background = self.nclusters
            if budget is None:
                budget = 2 * n_features + AUTO_BUDGET_BASE if self.nsamples == "auto" else int(self.nsamples)
        names = None if self.classes is None else [str(c) for c in self.classes]
        bar.update(1)
        bar.set_description(f"TabularExplainer: fitting the {method} explainer")
        explainer = make_explainer(
            self.model_,
            background,
            str(method),
            feature_names=self.inputs_.model_feature_names,
            class_names=names,
            n_background=n_background,
            budget=budget,
            fit_evaluations=self.fit_evaluations,
            seed=self.seed,
        )
        bar.update(1)
        if (
            self.shap_values_output is not ShapValuesOutput.DEFAULT
            and self.model_task_ is ModelTask.CLASSIFICATION
            and explainer.space_ is not Space.PROBABILITY
        ):
            raise CompatValueError(
                f"shap_values_output={self.shap_values_output.value!r} needs probabilities, but the "
                f"{method} explainer explains {explainer.space_}"
            )
        return explainer

    def _method_name(self) -> str:
        return METHOD_NAMES[self.explainer_.method]

    def _explain(self, rows: Any) -> Explanation:
        return self.explainer_.explain(rows)

    def _init_data(self) -> Any:
        rows, _ = rows_of(self.initialization_examples)
        return rows.to_numpy() if hasattr(rows, "to_numpy") else rows
