"""The evaluation sample a bundle carries for its dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_regression
from sklearn.ensemble import HistGradientBoostingRegressor

from scoring import make_explainer
from scoring.bundle import Bundle, save_bundle, verify_bundle
from scoring.errors import BundleError
from scoring.explanation import Level
from scoring.sample import NO_SAMPLE_FILE, SAMPLE, build_sample, load_sample, make_sample, omit_sample
from scoring.schema import Schema
from tests.service.dashboard_bundles import CLASS_NAMES, sample_bundle


@pytest.fixture(scope="module")
def fitted() -> tuple[Bundle, pd.DataFrame, np.ndarray]:
    return sample_bundle(n_eval=300)


def test_caps_rows_with_a_recorded_seed(fitted: tuple[Bundle, pd.DataFrame, np.ndarray]) -> None:
    bundle, X, y = fitted
    doc = build_sample(bundle, X, y, max_rows=100, seed=7)
    assert (doc["n_rows"], doc["n_source_rows"], doc["seed"], doc["max_rows"]) == (100, 300, 7, 100)
    positions = doc["positions"]
    assert positions == sorted(set(positions)) and len(positions) == 100
    assert build_sample(bundle, X, y, max_rows=100, seed=7)["positions"] == positions
    assert build_sample(bundle, X, y, max_rows=100, seed=8)["positions"] != positions
    # the rows are the eval rows at those positions, in order
    assert doc["columns"]["x0"] == pytest.approx(X["x0"].to_numpy()[positions].tolist())
    assert doc["columns"]["segment"] == X["segment"].to_numpy()[positions].tolist()


def test_keeps_every_row_under_the_cap(fitted: tuple[Bundle, pd.DataFrame, np.ndarray]) -> None:
    bundle, X, y = fitted
    doc = build_sample(bundle, X, y)
    assert doc["n_rows"] == 300 and doc["positions"] == list(range(300))


def test_labels_are_the_class_names_the_service_answers_with(
    fitted: tuple[Bundle, pd.DataFrame, np.ndarray],
) -> None:
    bundle, X, y = fitted
    doc = build_sample(bundle, X, y)
    names = np.asarray(CLASS_NAMES)
    assert doc["y_true"] == names[y].tolist()
    assert doc["y_pred"] == names[bundle.model.predict(X)].tolist()
    assert np.allclose(doc["probabilities"], bundle.model.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("level", [Level.RAW, Level.ENGINEERED])
def test_attributions_match_the_bundle_at_each_level(
    fitted: tuple[Bundle, pd.DataFrame, np.ndarray], level: Level
) -> None:
    bundle, X, y = fitted
    doc = build_sample(bundle, X, y)["explanations"][str(level)]
    expected = bundle.explain(X, level)
    assert doc["feature_names"] == list(expected.feature_names)
    assert doc["output_names"] == list(CLASS_NAMES)
    assert (doc["level"], doc["space"], doc["method"]) == (str(level), "log_odds", "linear")
    values = np.asarray(doc["values"])
    assert values.shape == expected.values.shape
    assert np.allclose(values, expected.values, rtol=1e-5, atol=1e-9)
    # additivity survives the rounding to six significant digits
    total = np.asarray(doc["base_values"])[None, :] + values.sum(axis=1)
    assert np.allclose(total, np.asarray(doc["outputs"]), atol=1e-4)
    if level is Level.ENGINEERED:
        assert np.asarray(doc["data"]).shape == (len(X), len(expected.feature_names))
    else:
        assert doc["data"] is None


def test_reuses_explanations_already_computed(fitted: tuple[Bundle, pd.DataFrame, np.ndarray]) -> None:
    bundle, X, y = fitted
    fresh = build_sample(bundle, X, y, max_rows=40, seed=1)
    rows = X.iloc[fresh["positions"]]
    given = {level: bundle.explain(rows, level) for level in bundle.levels}
    assert build_sample(bundle, X, y, max_rows=40, seed=1, explanations=given) == fresh
    with pytest.raises(ValueError, match="has 40 rows, the sample 41"):
        build_sample(bundle, X, y, max_rows=41, seed=1, explanations=given)
    with pytest.raises(ValueError, match="lack the level"):
        build_sample(bundle, X, y, max_rows=40, seed=1, explanations={Level.RAW: given[Level.RAW]})


def test_round_trips_through_a_saved_bundle(
    fitted: tuple[Bundle, pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    bundle, X, y = fitted
    save_bundle(tmp_path, bundle, files=make_sample(bundle, X, y, max_rows=50))
    assert SAMPLE in verify_bundle(tmp_path)["files"]
    sample = load_sample(tmp_path)
    assert sample.omitted is None and sample.n_rows == 50
    assert list(sample.X.columns) == list(bundle.schema.names)
    assert len(sample.y_true) == len(sample.y_pred) == 50
    assert json.loads(sample.to_bytes()) == sample.document


def test_missing_values_become_null_and_the_json_is_strict(tmp_path: Path) -> None:
    X, y = make_regression(n_samples=80, n_features=3, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(frame, y)
    schema = Schema.from_frame(frame, task="regression", target="price")
    bundle = Bundle(
        model=model, explainer=make_explainer(model, frame, "exact", n_background=5), schema=schema
    )
    holes = frame.copy()
    holes.loc[3, "a"] = np.nan
    raw = make_sample(bundle, holes, y)[SAMPLE]
    doc = json.loads(raw)  # strict: no NaN literals
    assert b"NaN" not in raw
    assert doc["columns"]["a"][3] is None
    assert doc["probabilities"] is None
    assert doc["y_true"] == pytest.approx(y.tolist())
    assert set(doc["explanations"]) == {"raw", "engineered"}
    # no feature map: both levels are over the raw columns, whose values are in `columns`
    assert doc["explanations"]["engineered"]["data"] is None


def test_omitting_the_sample_records_why(tmp_path: Path) -> None:
    (tmp_path / SAMPLE).write_bytes(omit_sample("patient data stays in the hospital")[SAMPLE])
    sample = load_sample(tmp_path)
    assert sample.omitted == "patient data stays in the hospital"
    assert sample.n_rows == 0 and sample.X.empty
    with pytest.raises(ValueError, match="say why"):
        omit_sample("  ")


def test_a_bundle_without_a_sample_file_reads_as_omitted(tmp_path: Path) -> None:
    assert load_sample(tmp_path).omitted == NO_SAMPLE_FILE


def test_rejects_bad_input(fitted: tuple[Bundle, pd.DataFrame, np.ndarray], tmp_path: Path) -> None:
    bundle, X, y = fitted
    with pytest.raises(ValueError, match="rows but y has"):
        build_sample(bundle, X, y[:-1])
    with pytest.raises(ValueError, match="max_rows"):
        build_sample(bundle, X, y, max_rows=0)
    with pytest.raises(ValueError, match="lacks"):
        build_sample(bundle, X.drop(columns=["x1"]), y)
    with pytest.raises(TypeError, match="DataFrame"):
        build_sample(bundle, X.to_numpy(), y)
    (tmp_path / SAMPLE).write_text(json.dumps({"format_version": 99}))
    with pytest.raises(BundleError, match="format 99"):
        load_sample(tmp_path)
