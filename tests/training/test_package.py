"""build_bundle: what is explained, at which levels, and what the report and manifest say."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from scoring import Level
from scoring.mapper import ColumnMapper
from tests.tables import CATEGORICAL, NUMERIC
from training.package import PLOT, build_bundle

QUICK = {"progress": False, "fidelity_rows": 4}


def _split(mixed: tuple[pd.DataFrame, pd.Series]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = mixed
    return X.iloc[:180], X.iloc[180:], y.iloc[:180], y.iloc[180:]


def _fit(model: Any, X: Any, y: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def test_a_mapped_pipeline_is_explained_at_both_levels(mixed: Any, mixed_pipeline: Any) -> None:
    X_train, X_test, _, y_test = _split(mixed)
    built = build_bundle(
        mixed_pipeline, X_train, X_eval=X_test, y_eval=y_test, class_names=["no", "yes"], **QUICK
    )
    bundle, report = built.bundle, built.report
    assert bundle.levels == (Level.RAW, Level.ENGINEERED)
    raw = bundle.explain(X_test, Level.RAW)
    engineered = bundle.explain(X_test, Level.ENGINEERED)
    # one value per raw column; one per engineered (one-hot) column; same totals per row
    assert raw.feature_names == tuple(X_test.columns)
    assert engineered.n_features == len(NUMERIC) + 4 + 2  # city: 3 seen + "missing"; plan: 2
    np.testing.assert_allclose(raw.values.sum(axis=1), engineered.values.sum(axis=1), atol=1e-10)
    raw.check_additivity()
    engineered.check_additivity()
    assert report.fidelity is not None
    assert report.explainer.method == "linear" and report.fidelity.exact is True
    assert "final estimator over engineered columns" in report.explainer.explains
    assert set(report.metrics) >= {"accuracy", "roc_auc", "log_loss"}
    gi = report.global_importance
    assert set(gi) == {"raw", "engineered"}
    assert gi["raw"].rows == len(X_test)  # linear: every evaluation row
    assert len(gi["raw"].mean_abs) == X_test.shape[1] and len(gi["raw"].mean_abs[0]) == 2
    assert gi["raw"].output_names == ("no", "yes")
    assert built.files[PLOT].startswith(b"\x89PNG")
    assert report.explainer.levels == ("raw", "engineered")
    assert set(report.timings) >= {
        "fit_explainer_s",
        "global_importance_s",
        "fidelity_s",
        "explain_ms_per_row",
    }


def test_the_schema_follows_the_pipeline(mixed: Any, mixed_pipeline: Any) -> None:
    X_train, *_ = _split(mixed)
    schema = build_bundle(mixed_pipeline, X_train, class_names=["no", "yes"], **QUICK).bundle.schema
    features = {f.name: f for f in schema.features}
    assert features["income"].nullable  # imputed by the pipeline, though complete in training
    assert features["plan"].accepts_unseen and features["city"].accepts_unseen
    assert schema.classes == ("no", "yes")


def test_fitted_transformer_tuples_give_the_same_levels(mixed: Any) -> None:
    X_train, X_test, y_train, y_test = _split(mixed)
    transformations = [
        ([f], Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]))
        for f in NUMERIC
    ] + [([f], OneHotEncoder(handle_unknown="ignore", sparse_output=False)) for f in CATEGORICAL]
    clf = _fit(
        Pipeline([("preprocessor", ColumnMapper(transformations)), ("clf", LogisticRegression())]),
        X_train,
        y_train,
    )
    built = build_bundle(
        clf.steps[-1][1], X_train, transformations=transformations, X_eval=X_test, y_eval=y_test, **QUICK
    )
    raw = built.bundle.explain(X_test, Level.RAW)
    engineered = built.bundle.explain(X_test, Level.ENGINEERED)
    assert raw.n_features == 5 and engineered.n_features == 3 + 4 + 2  # city's NaN is its own column
    np.testing.assert_allclose(raw.values.sum(axis=1), engineered.values.sum(axis=1), atol=1e-10)
    np.testing.assert_allclose(built.bundle.predict(X_test).probabilities, clf.predict_proba(X_test))


def test_a_mixing_preprocessor_explains_the_whole_pipeline_over_raw_columns(mixed: Any) -> None:
    X_train, X_test, y_train, y_test = _split(mixed)
    cols = NUMERIC
    model = _fit(
        make_pipeline(SimpleImputer(), StandardScaler(), PCA(n_components=2), LogisticRegression()),
        X_train[cols],
        y_train,
    )
    built = build_bundle(model, X_train[cols], X_eval=X_test[cols], y_eval=y_test, n_background=10, **QUICK)
    report = built.report
    assert built.bundle.levels == (Level.RAW,)
    assert report.explainer.method == "exact"  # three raw columns: exact is affordable
    assert report.explainer.explains == "the whole pipeline over raw columns"
    assert "mixes columns" in str(report.explainer.reason)
    assert set(report.global_importance) == {"raw"}
    assert list(report.global_importance["raw"].feature_names) == cols


def test_a_sampled_explainer_reports_its_fidelity_against_a_larger_kernel(mixed: Any) -> None:
    X_train, X_test, y_train, y_test = _split(mixed)
    cols = ["income", "visits"]
    model = _fit(SVC(probability=True, random_state=0), X_train[cols], y_train)
    built = build_bundle(
        model,
        X_train[cols],
        X_eval=X_test[cols],
        y_eval=y_test,
        explainer="kernel",
        budget=8,
        n_background=5,
        importance_rows=12,
        **QUICK,
    )
    fidelity = built.report.fidelity
    assert fidelity is not None and fidelity.exact is False and fidelity.rows == 4
    assert fidelity.reference == {"method": "kernel", "budget": 16, "n_background": 10}
    assert fidelity.median_rel_l2 is not None and 0 <= fidelity.median_rel_l2 < 1
    assert built.report.global_importance["raw"].rows == 12


def test_a_tree_model_uses_the_tree_explainer_on_engineered_columns(mixed: Any) -> None:
    X_train, X_test, y_train, y_test = _split(mixed)
    from tests.tables import reference_preprocessor

    model = _fit(
        Pipeline([("pre", reference_preprocessor()), ("rf", RandomForestClassifier(n_estimators=10))]),
        X_train,
        y_train,
    )
    built = build_bundle(model, X_train, X_eval=X_test, y_eval=y_test, **QUICK)
    assert built.report.explainer.method == "tree" and built.bundle.levels == (
        Level.RAW,
        Level.ENGINEERED,
    )
    built.bundle.explain(X_test, Level.RAW).check_additivity(atol=1e-6)


def test_arrays_with_feature_names(mixed: Any) -> None:
    X_train, X_test, y_train, y_test = _split(mixed)
    cols = ["income", "visits"]
    model = LogisticRegression().fit(X_train[cols].to_numpy(), y_train)
    built = build_bundle(
        model,
        X_train[cols].to_numpy(),
        feature_names=cols,
        X_eval=X_test[cols].to_numpy(),
        y_eval=y_test.to_numpy(),
        **QUICK,
    )
    assert built.bundle.schema.names == tuple(cols)
    assert list(built.report.global_importance["raw"].feature_names) == cols
    with pytest.raises(ValueError, match="feature names"):
        build_bundle(model, X_train[cols].to_numpy(), feature_names=["a"], **QUICK)


def test_auto_on_a_wide_black_box_records_its_choice_and_fit_time_fidelity() -> None:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=12, n_informative=6, random_state=4)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(12)])
    model = _fit(SVC(probability=True, random_state=0), frame.iloc[:160], y[:160])
    built = build_bundle(
        model,
        frame.iloc[:160],
        X_eval=frame.iloc[160:],
        y_eval=y[160:],
        fit_evaluations=40_000,
        budget=64,
        n_background=8,
        **QUICK,
    )
    report, method = built.report, built.bundle.explainer.method
    fidelity = report.fidelity
    assert fidelity is not None and fidelity.measured_at_fit is not None and fidelity.reference is not None
    assert method in ("amortized", "kernel") and report.explainer.method == method
    assert "a black box with more than 10 features" in str(report.explainer.chosen_because)
    assert fidelity.median_rel_l2 == fidelity.measured_at_fit[method]["median_rel_l2"]
    assert fidelity.reference["method"].startswith(("exact", "permutation"))
    if method == "amortized":  # a fast method: global importance over every evaluation row
        assert report.global_importance["raw"].rows == 40
