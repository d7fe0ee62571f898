"""Turn a fitted model into a bundle: choose what to explain, fit the scoring explainer, evaluate,
report, plot; `save_model` also writes it to the BentoML model store."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier

from scoring import Level, Method
from scoring import sample as dashboard_sample
from scoring.bundle import Bundle, bundle_report
from scoring.explainers import choose_explainer, choose_method
from scoring.pipeline import accepted_inputs
from scoring.report import DataSizes, ExplainerReport, Report
from scoring.schema import Schema, plain_value
from training import estimate
from training import report as reports
from training.plan import (
    Plan,
    as_frame,
    fit_rows,
    over_raw_when_exact,
    plan_explanation,
    with_transformations,
)

PLOT = "global_importance.png"
# rows a model-agnostic explainer is fitted on, and global importance computed over, at most
MAX_EXPLAIN_ROWS = 2000
MAX_SAMPLE_ROWS = dashboard_sample.MAX_ROWS  # the dashboard's evaluation sample, at most


@dataclass
class BuiltBundle:
    bundle: Bundle
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def report(self) -> Report:
        return bundle_report(self.bundle)


@dataclass
class SavedBundle:
    tag: str
    path: Path
    bundle: Bundle

    @property
    def report(self) -> Report:
        return bundle_report(self.bundle)


def build_bundle(
    model: Any,
    X: Any,
    *,
    X_eval: Any = None,
    y_eval: Any = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    transformations: Any = None,
    target: str = "target",
    explainer: str = "auto",
    budget: int | None = None,
    n_background: int | None = None,
    fit_evaluations: int | None = None,
    importance_rows: int | None = None,
    max_explain_rows: int = MAX_EXPLAIN_ROWS,
    fidelity_rows: int = 10,
    sample_rows: int | None = None,
    omit_sample: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> BuiltBundle:
    """A bundle (model, scoring explainer, schema, report) and its plot, in memory.

    `model` is a fitted estimator or Pipeline taking the columns of `X` (the training rows,
    a frame or an array named by `feature_names`); with `transformations` (a fitted preprocessor
    or a list of fitted `(columns, transformer)` tuples) `model` is the estimator after them.
    `X_eval`/`y_eval` give test metrics; global importance uses `importance_rows` of them (of `X`
    when not given; default: all for linear, tree and amortized explainers, 50 for costlier ones), fidelity
    `fidelity_rows` of those. The dashboard's evaluation sample holds `sample_rows` of them
    (drawn with `seed`; default: all up to 5,000 for the fast explainers, else the rows
    global importance explained) with their predictions and attributions; `omit_sample`, the
    reason why, leaves it out (e.g. for sensitive data), and so does having no evaluation frame.
    `max_explain_rows` bounds the work on large tables: a model-agnostic explainer (exact, kernel,
    amortized) is fitted on at most that many training rows (a seeded sample; linear and tree
    explainers take every row), and global importance covers at most that many rows unless
    `importance_rows` says otherwise. The report's `data` records the sizes used.
    """
    if max_explain_rows < 1:
        raise ValueError(f"max_explain_rows must be at least 1, got {max_explain_rows}")
    X = as_frame(X, feature_names, model)
    raw_names = list(X.columns)
    model = with_transformations(model, transformations, raw_names)
    classify = is_classifier(model)
    classes = tuple(str(c) for c in (class_names or getattr(model, "classes_", ()))) if classify else ()
    timings: dict[str, float] = {}

    plan = plan_explanation(model, raw_names)
    X_fit = fit_rows(model, plan, X)
    if plan.feature_map is not None and X_fit.shape[1] != len(plan.feature_map.engineered_names):
        # a derivation rule disagrees with what the preprocessor produces: do not trust the map
        plan = Plan(
            model,
            None,
            "the whole pipeline over raw columns",
            "the derived feature map does not "
            f"match the preprocessor's {X_fit.shape[1]} output columns; only the raw level is available",
        )
        X_fit = fit_rows(model, plan, X)
    raw_plan = over_raw_when_exact(plan, model, raw_names, explainer)
    if raw_plan is not plan:
        plan, X_fit = raw_plan, fit_rows(model, raw_plan, X)
    method = planned_method(plan.target, X_fit, explainer)
    X_explainer = explainer_rows(X_fit, method, max_explain_rows, seed)
    expected = estimate.explainer_fit(
        method,
        plan.target,
        X_explainer,
        fit_evaluations=fit_evaluations,
        budget=budget,
        n_background=n_background,
    )
    if expected is not None and expected.long:
        print(expected.warning(), file=sys.stderr, flush=True)
    start = time.perf_counter()
    seconds = expected.seconds if expected else 0.0
    with estimate.timed_bar("fitting the explainer", seconds, enabled=progress and expected is not None):
        choice = choose_explainer(
            plan.target,
            X_explainer,
            explainer,
            feature_names=list(plan.feature_map.engineered_names) if plan.feature_map else raw_names,
            class_names=list(classes) if classes else None,
            budget=budget,
            n_background=n_background,
            fit_evaluations=fit_evaluations,
            seed=seed,
        )
    scoring_explainer = choice.explainer
    chosen = Method(scoring_explainer.method)
    timings["fit_explainer_s"] = time.perf_counter() - start

    nullable, unseen = accepted_inputs(model, raw_names)
    schema = Schema.from_frame(
        X,
        task="classification" if classify else "regression",
        target=target,
        classes=classes,
        nullable=nullable,
        accepts_unseen=unseen,
    )
    bundle = Bundle(model=model, explainer=scoring_explainer, schema=schema, feature_map=plan.feature_map)

    metrics: dict[str, float] = {}
    if X_eval is not None and y_eval is not None:
        X_eval = as_frame(X_eval, raw_names, model)
        start = time.perf_counter()
        metrics = _metrics(bundle, X_eval, pd.Series(np.asarray(y_eval)), classify)
        timings["evaluate_s"] = time.perf_counter() - start
        metrics_on, rows_from, pool = "evaluation frame", "evaluation rows", X_eval
    else:
        metrics_on = "none: no evaluation frame given"
        rows_from, pool = "training rows (no evaluation frame given)", X

    n_importance = reports.importance_rows(chosen, len(pool), importance_rows)
    if importance_rows is None:
        n_importance = min(n_importance, max_explain_rows)
    rows = _sample(pool, n_importance, seed)
    start = time.perf_counter()
    parts = reports.explain_in_chunks(
        lambda chunk: bundle.explain(
            chunk, Level.ENGINEERED if Level.ENGINEERED in bundle.levels else Level.RAW
        ),
        rows,
        desc="global importance",
        progress=progress,
    )
    served = reports.stack(parts)
    elapsed = time.perf_counter() - start
    timings["global_importance_s"] = elapsed
    timings["explain_ms_per_row"] = 1000 * elapsed / max(len(rows), 1)
    levels = dashboard_sample.explanations_by_level(bundle, rows, served)
    importance = {str(level): reports.global_importance(e) for level, e in levels.items()}

    sample = _sample(rows, fidelity_rows, seed)
    positions = [rows.index.get_loc(i) for i in sample.index]
    start = time.perf_counter()
    fidelity = reports.fidelity(
        scoring_explainer,
        plan.target,
        X_explainer,
        fit_rows(model, plan, sample),
        served=served.select(positions),
        class_names=list(classes) or None,
        measured=choice.measured,
        seed=seed,
        progress=progress,
    )
    timings["fidelity_s"] = time.perf_counter() - start
    levels_offered = tuple(str(level) for level in bundle.levels)
    plot = reports.plot_importance(importance, title=f"Global importance: {type(model).__name__}")
    start = time.perf_counter()
    sample_file = _sample_file(
        bundle, chosen, X_eval, y_eval, rows, levels, sample_rows=sample_rows, omit=omit_sample, seed=seed
    )
    timings["sample_s"] = time.perf_counter() - start
    bundle.report = Report(
        task=schema.task,
        model=f"{type(model).__module__}.{type(model).__name__}",
        classes=classes,
        class_labels=tuple(plain_value(c) for c in getattr(model, "classes_", [])),
        data=DataSizes(
            train_rows=len(X),
            raw_features=len(raw_names),
            engineered_features=X_fit.shape[1],
            explainer_rows=len(X_explainer),
            max_explain_rows=max_explain_rows,
            eval_rows=None if X_eval is None or y_eval is None else len(X_eval),
        ),
        metrics=metrics,
        metrics_on=metrics_on,
        global_importance=importance,
        global_importance_rows=rows_from,
        fidelity=fidelity,
        explainer=ExplainerReport(
            method=str(chosen),
            requested=explainer,
            params=scoring_explainer.get_params(),
            space=str(scoring_explainer.space_),
            explains=plan.explains,
            levels=levels_offered,
            reason=plan.reason,
            chosen_because=choice.reason,
        ),
        timings={k: round(v, 4) for k, v in timings.items()},
    )
    return BuiltBundle(bundle, {PLOT: plot, **sample_file})


def _sample_file(
    bundle: Bundle,
    method: Method,
    X_eval: pd.DataFrame | None,
    y_eval: Any,
    explained_rows: pd.DataFrame,
    explained: dict[Level, Any],
    *,
    sample_rows: int | None,
    omit: str | None,
    seed: int,
) -> dict[str, bytes]:
    """The dashboard's evaluation sample. By default every test row (up to 5,000) for linear, tree
    and amortized explainers; for costlier ones the rows global importance explained, reused as
    they are."""
    if omit is not None:
        return dashboard_sample.omit_sample(omit)
    if X_eval is None or y_eval is None:
        return dashboard_sample.omit_sample("no evaluation frame was given at training time")
    if sample_rows is None:
        fast = method in reports.FAST_METHODS
        sample_rows = MAX_SAMPLE_ROWS if fast else len(explained_rows)
    n = min(sample_rows, len(X_eval))
    # the same seeded draw from the same rows: global importance explained exactly these
    same_rows = _sample(X_eval, n, seed).index.equals(explained_rows.index)
    return dashboard_sample.make_sample(
        bundle, X_eval, y_eval, max_rows=n, seed=seed, explanations=explained if same_rows else None
    )


def _metrics(bundle: Bundle, X_eval: pd.DataFrame, y: pd.Series, classify: bool) -> dict[str, float]:
    prediction = bundle.predict(X_eval)
    if classify:
        return reports.classification_metrics(
            y, prediction.labels, prediction.probabilities, getattr(bundle.model, "classes_", [])
        )
    return reports.regression_metrics(y, prediction.labels)


def planned_method(model: Any, X: Any, method: str) -> Method:
    """The method asked for, or `auto`'s first pick for this model and these columns."""
    return choose_method(model, X.shape[1]) if method == "auto" else Method(method)


def explainer_rows(X: Any, method: Method, max_rows: int, seed: int) -> Any:
    """The rows the explainer is fitted on: every row for the linear and tree methods (their
    cost hardly grows with rows), else a seeded sample of at most `max_rows`."""
    if method in (Method.LINEAR, Method.TREE) or len(X) <= max_rows:
        return X
    picked = np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))
    return X.iloc[picked] if isinstance(X, pd.DataFrame) else X[picked]


def _sample(X: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(X) <= n:
        return X
    picked = np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))
    return X.iloc[picked]


def save_model(
    name: str,
    model: Any,
    X: Any,
    *,
    X_eval: Any = None,
    y_eval: Any = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    transformations: Any = None,
    target: str = "target",
    explainer: str = "auto",
    budget: int | None = None,
    n_background: int | None = None,
    fit_evaluations: int | None = None,
    importance_rows: int | None = None,
    max_explain_rows: int = MAX_EXPLAIN_ROWS,
    fidelity_rows: int = 10,
    sample_rows: int | None = None,
    omit_sample: str | None = None,
    labels: dict[str, str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> SavedBundle:
    """Build the bundle of a fitted `model` (see `build_bundle`) and save it to the BentoML model
    store as a new version of `name`. Returns its tag, folder and the bundle."""
    from training.store import save_to_store

    built = build_bundle(
        model,
        X,
        X_eval=X_eval,
        y_eval=y_eval,
        feature_names=feature_names,
        class_names=class_names,
        transformations=transformations,
        target=target,
        explainer=explainer,
        budget=budget,
        n_background=n_background,
        fit_evaluations=fit_evaluations,
        importance_rows=importance_rows,
        max_explain_rows=max_explain_rows,
        fidelity_rows=fidelity_rows,
        sample_rows=sample_rows,
        omit_sample=omit_sample,
        seed=seed,
        progress=progress,
    )
    report = built.report
    store_labels = {"task": report.task, "explainer": report.explainer.method, **(labels or {})}
    summary = report.to_json()
    metadata = {
        "model": report.model,
        "levels": list(report.explainer.levels),
        "metrics": summary["metrics"],
        # the summary; the full fit-time figures are in the bundle's report.json
        "fidelity": {
            k: v for k, v in summary["fidelity"].items() if k != "measured_at_fit" and v is not None
        },
    }
    tag, path = save_to_store(name, built.bundle, files=built.files, labels=store_labels, metadata=metadata)
    return SavedBundle(tag=tag, path=path, bundle=built.bundle)
