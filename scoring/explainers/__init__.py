"""Scoring explainers, one class per method, and the one place that picks among them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scoring.explainers.amortized import AmortizedExplainer
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.exact import ExactExplainer
from scoring.explainers.kernel import KernelExplainer
from scoring.explainers.linear import LinearExplainer, is_linear
from scoring.explainers.tree import TreeExplainer, is_tree_model
from scoring.explanation import Method
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


def choose_method(model: Any, n_features: int) -> Method:
    """`auto`: linear for linear models, tree for tree ensembles, exact when M is small, else kernel."""
    if is_linear(model):
        return Method.LINEAR
    if is_tree_model(model):
        return Method.TREE
    if n_features <= EXACT_MAX_FEATURES:
        return Method.EXACT
    return Method.KERNEL


def make_explainer(
    model: Any,
    X: Any,
    method: str = "auto",
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    n_background: int | None = None,
    budget: int | None = None,
    seed: int = 0,
) -> ScoringExplainer:
    """A fitted explainer of `model` over background rows `X`.

    `n_background`, `budget` and `seed` go to the chosen method where it has them; None keeps
    the method's default.
    """
    n_features = X.shape[1]
    chosen = choose_method(model, n_features) if method == "auto" else Method(method)
    cls = EXPLAINERS[chosen]
    given = {"n_background": n_background, "budget": budget, "seed": seed}
    accepted = cls._param_names()
    explainer = cls(**{k: v for k, v in given.items() if v is not None and k in accepted})
    return explainer.fit(model, X, feature_names=feature_names, class_names=class_names)


def load_explainer(path: str | Path, model: Any) -> ScoringExplainer:
    """Rebuild a saved explainer around `model` (the model is stored separately, in the bundle)."""
    config, arrays = load_state(path)
    cls = EXPLAINERS[Method(config["method"])]
    return cls._from_state(model, config, arrays)


__all__ = [
    "EXPLAINERS",
    "AmortizedExplainer",
    "ExactExplainer",
    "KernelExplainer",
    "LinearExplainer",
    "ScoringExplainer",
    "TreeExplainer",
    "choose_method",
    "load_explainer",
    "make_explainer",
]
