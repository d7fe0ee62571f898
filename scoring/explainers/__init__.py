"""Scoring explainers, one class per method, and the one place that picks among them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.errors import ParameterError, UnsupportedModelError
from scoring.explainers.amortized import AmortizedExplainer
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.exact import ExactExplainer
from scoring.explainers.kernel import KernelExplainer
from scoring.explainers.linear import LinearExplainer, is_linear
from scoring.explainers.tree import TreeExplainer, is_tree_model
from scoring.explanation import Method
from scoring.fidelity import choose_black_box
from scoring.selection import measure_black_box
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
    """A fitted explainer and why its method was chosen; `measured` holds both candidates'
    figures on the same held-out rows when `auto` compared them (`scoring.selection`)."""

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
    it fits both candidates and measures them on the same held-out rows (`scoring.selection`):
    the amortized explainer, and the kernel method with `budget` and `n_background`; it keeps
    amortized when its median relative L2 error is within `tolerance` of kernel's (or kernel
    costs too much per row online, `choose_black_box`), else the kernel it measured.

    Options (None keeps the method's default): `n_background` (tree, exact, kernel), `budget`
    (kernel), `fit_evaluations` (amortized: the model evaluations its labels may spend, half of
    it on its fidelity reference). An option the asked-for method does not take is a
    ParameterError naming both; under `auto` the reason states any option the picked method did
    not use. `seed` reaches every method that samples (the deterministic ones have nothing to seed).
    """
    options = {"n_background": n_background, "budget": budget, "fit_evaluations": fit_evaluations}
    given = {name: value for name, value in options.items() if value is not None}

    def unfitted(chosen: Method) -> ScoringExplainer:
        return _build(chosen, {k: v for k, v in given.items() if k in OPTIONS[chosen]}, seed)

    def fitted(chosen: Method) -> ScoringExplainer:
        explainer = unfitted(chosen)
        return explainer.fit(model, X, feature_names=feature_names, class_names=class_names)

    if method != "auto":
        asked = _method(method)
        for name in given:
            if name not in OPTIONS[asked]:
                takes = ", ".join(OPTIONS[asked]) or "none of them"
                raise ParameterError(
                    f"option '{name}' does not apply to the '{asked}' method (of {', '.join(given)}, "
                    f"it takes: {takes})"
                )
        return Choice(fitted(asked), f"'{asked}' was asked for")
    chosen = choose_method(model, X.shape[1])
    if chosen is not Method.AMORTIZED:
        return Choice(fitted(chosen), _STATIC_REASONS[chosen] + _unused(chosen, given))
    amortized, kernel = unfitted(Method.AMORTIZED), unfitted(Method.KERNEL)
    assert isinstance(amortized, AmortizedExplainer) and isinstance(kernel, KernelExplainer)
    try:
        measured = measure_black_box(
            amortized, kernel, model, X, feature_names=feature_names, class_names=class_names
        )
    except UnsupportedModelError as error:
        return Choice(
            fitted(Method.KERNEL), f"a black box; the amortized method does not apply ({error}): kernel"
        )
    picked, why = choose_black_box(measured.figures, tolerance=tolerance)
    reason = f"a black box with more than {EXACT_MAX_FEATURES} features; {why}"
    explainer = measured.amortized if picked is Method.AMORTIZED else measured.kernel
    return Choice(explainer, reason, measured.figures)


def _method(method: str) -> Method:
    try:
        return Method(method)
    except ValueError:
        names = ", ".join(["auto", *(str(m) for m in EXPLAINERS)])
        raise ParameterError(f"unknown explainer method {method!r}; one of: {names}") from None


def _unused(chosen: Method, given: dict[str, int]) -> str:
    unused = [f"{name}={value}" for name, value in given.items() if name not in OPTIONS[chosen]]
    return f" ({', '.join(unused)} not used by '{chosen}')" if unused else ""


_STATIC_REASONS = {
    Method.LINEAR: "a linear model: closed-form values",
    Method.TREE: "a tree model: TreeSHAP",
    Method.EXACT: f"a black box with at most {EXACT_MAX_FEATURES} features: every coalition enumerated",
}

# the options `choose_explainer` takes, by the methods they apply to
OPTIONS: dict[Method, tuple[str, ...]] = {
    Method.LINEAR: (),
    Method.TREE: ("n_background",),
    Method.EXACT: ("n_background",),
    Method.KERNEL: ("n_background", "budget"),
    Method.AMORTIZED: ("fit_evaluations",),
}


def _build(method: Method, options: dict[str, int], seed: int) -> ScoringExplainer:
    """An unfitted explainer of `method` with the options it takes (absent keeps its default)."""
    cls = EXPLAINERS[method]
    params: dict[str, int] = dict(options)
    if method is Method.AMORTIZED and "fit_evaluations" in options:
        evaluations = params.pop("fit_evaluations")
        params = {"label_evaluations": evaluations, "reference_evaluations": evaluations // 2}
    if "seed" in cls._param_names():
        params["seed"] = seed
    return cls(**params)


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
    "OPTIONS",
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
