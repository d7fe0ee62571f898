"""Scoring explainers, one class per method, and the one place that picks among them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.errors import UnsupportedModelError
from scoring.explainers.amortized import AmortizedExplainer
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.exact import ExactExplainer
from scoring.explainers.kernel import KernelExplainer
from scoring.explainers.linear import LinearExplainer, is_linear
from scoring.explainers.tree import TreeExplainer, is_tree_model
from scoring.explanation import Method
from scoring.fidelity import choose_black_box
from scoring.state import load_state

EXPLAINERS: dict[Method, type[ScoringExplainer]] = {
    Method.LINEAR: LinearExplainer,
    Method.TREE: TreeExplainer,
    Method.EXACT: ExactExplainer,
    Method.KERNEL: KernelExplainer,
    Method.AMORTIZED: AmortizedExplainer,
}

# above this many features full enumeration stops being cheap
EXACT_MAX_FEATURES = 10
# `auto` serves the amortized explainer when its measured median relative L2 error is at most
# this much above the kernel method's (absolute)
AUTO_TOLERANCE = 0.05


def choose_method(model: Any, n_features: int) -> Method:
    """`auto`'s first pick: linear for linear models, tree for tree ensembles, exact when M is
    small, else amortized (which `choose_explainer` keeps only if it measures as well as kernel)."""
    if is_linear(model):
        return Method.LINEAR
    if is_tree_model(model):
        return Method.TREE
    if n_features <= EXACT_MAX_FEATURES:
        return Method.EXACT
    return Method.AMORTIZED


@dataclass(frozen=True)
class Choice:
    """A fitted explainer and why its method was chosen; `measured` holds the amortized
    explainer's fidelity figures (its own and kernel's) when `auto` compared them."""

    explainer: ScoringExplainer
    reason: str
    measured: dict[str, Any] | None = None


def choose_explainer(
    model: Any,
    X: Any,
    method: str = "auto",
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    n_background: int | None = None,
    budget: int | None = None,
    fit_evaluations: int | None = None,
    tolerance: float = AUTO_TOLERANCE,
    seed: int = 0,
) -> Choice:
    """A fitted explainer of `model` over background rows `X`, and why this method.

    `auto` picks by `choose_method`. For a black box with more than EXACT_MAX_FEATURES features
    it fits the amortized explainer, which measures itself and the kernel method (with `budget`
    and `n_background`) against a reference on held-out rows, and keeps it when its median
    relative L2 error is within `tolerance` of kernel's; else it fits kernel.

    `n_background`, `budget` and `seed` go to the chosen method where it has them; None keeps
    the method's default. `fit_evaluations` caps the model evaluations the amortized explainer
    spends on its labels (and half of it on its fidelity reference).
    """

    def fitted(chosen: Method) -> ScoringExplainer:
        explainer = _build(chosen, n_background, budget, fit_evaluations, seed)
        return explainer.fit(model, X, feature_names=feature_names, class_names=class_names)

    if method != "auto":
        return Choice(fitted(Method(method)), f"'{Method(method)}' was asked for")
    chosen = choose_method(model, X.shape[1])
    if chosen is not Method.AMORTIZED:
        return Choice(fitted(chosen), _STATIC_REASONS[chosen])
    try:
        amortized = fitted(Method.AMORTIZED)
    except UnsupportedModelError as error:
        return Choice(
            fitted(Method.KERNEL), f"a black box; the amortized method does not apply ({error}): kernel"
        )
    assert isinstance(amortized, AmortizedExplainer)
    picked, why = choose_black_box(amortized.fidelity_, tolerance=tolerance)
    reason = f"a black box with more than {EXACT_MAX_FEATURES} features; {why}"
    explainer = amortized if picked is Method.AMORTIZED else fitted(Method.KERNEL)
    return Choice(explainer, reason, amortized.fidelity_)


_STATIC_REASONS = {
    Method.LINEAR: "a linear model: closed-form values",
    Method.TREE: "a tree model: TreeSHAP",
    Method.EXACT: f"a black box with at most {EXACT_MAX_FEATURES} features: every coalition enumerated",
}


def _build(
    method: Method, n_background: int | None, budget: int | None, fit_evaluations: int | None, seed: int
) -> ScoringExplainer:
    """An unfitted explainer of `method` with the settings it takes (None keeps its default)."""
    cls = EXPLAINERS[method]
    given: dict[str, int | None] = {"n_background": n_background, "budget": budget, "seed": seed}
    if method is Method.AMORTIZED:
        given = {
            "kernel_background": n_background,
            "kernel_budget": budget,
            "label_evaluations": fit_evaluations,
            "reference_evaluations": None if fit_evaluations is None else fit_evaluations // 2,
            "seed": seed,
        }
    accepted = cls._param_names()
    return cls(**{k: v for k, v in given.items() if v is not None and k in accepted})


def make_explainer(
    model: Any,
    X: Any,
    method: str = "auto",
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    n_background: int | None = None,
    budget: int | None = None,
    fit_evaluations: int | None = None,
    seed: int = 0,
) -> ScoringExplainer:
    """A fitted explainer of `model` over background rows `X` (see `choose_explainer`)."""
    return choose_explainer(
        model,
        X,
        method,
        feature_names=feature_names,
        class_names=class_names,
        n_background=n_background,
        budget=budget,
        fit_evaluations=fit_evaluations,
        seed=seed,
    ).explainer


def load_explainer(path: str | Path, model: Any) -> ScoringExplainer:
    """Rebuild a saved explainer around `model` (the model is stored separately, in the bundle)."""
    config, arrays = load_state(path)
    cls = EXPLAINERS[Method(config["method"])]
    return cls._from_state(model, config, arrays)


__all__ = [
    "AUTO_TOLERANCE",
    "EXPLAINERS",
    "AmortizedExplainer",
    "Choice",
    "ExactExplainer",
    "KernelExplainer",
    "LinearExplainer",
    "ScoringExplainer",
    "TreeExplainer",
    "choose_explainer",
    "choose_method",
    "load_explainer",
    "make_explainer",
]
