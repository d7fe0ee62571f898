"""Bundle folders: save/load round trips, and refusing tampered files and other library versions."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring import BundleError, Level, ValidationError, make_explainer
from scoring.bundle import (
    MANIFEST,
    MODEL_JOBLIB,
    MODEL_SKOPS,
    REPORT,
    SCHEMA,
    Bundle,
    bundle_report,
    load_bundle,
    manifest_digest,
    save_bundle,
    verify_bundle,
)
from scoring.feature_map import derive_feature_map
from scoring.mapper import ColumnMapper
from scoring.pipeline import accepted_inputs
from scoring.schema import Schema
from scoring.state import STATE_FILE
from tests.tables import NUMERIC, mixed_frame, reference_preprocessor

X, y = mixed_frame()
ROWS = X.iloc[:7]


def _quiet_fit(model: Any, data: Any = X) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(data, y)


def _schema(model: Any, data: Any = X) -> Schema:
    nullable, unseen = accepted_inputs(model, list(data.columns))
    return Schema.from_frame(data, task="classification", nullable=nullable, accepts_unseen=unseen)


def folded_bundle(preprocessor: Any = None) -> Bundle:
    """Pipeline(preprocessor, LogisticRegression) explained on engineered columns, folded to raw."""
    model = _quiet_fit(
        Pipeline([("pre", preprocessor or reference_preprocessor()), ("clf", LogisticRegression())])
    )
    fmap = derive_feature_map(model[:-1], list(X.columns))
    assert fmap is not None
    Z = model[:-1].transform(X)
    Z = np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=float)
    explainer = make_explainer(model[-1], Z, feature_names=list(fmap.engineered_names))
    return Bundle(model, explainer, _schema(model), feature_map=fmap)


def raw_bundle() -> Bundle:
    """A PCA pipeline: no feature map, so the whole model is explained over raw columns."""
    data = X[NUMERIC].fillna(0.0)
    model = _quiet_fit(make_pipeline(StandardScaler(), PCA(n_components=2), LogisticRegression()), data)
    explainer = make_explainer(model, data, "exact", n_background=8)
    return Bundle(model, explainer, _schema(model, data))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle")
    save_bundle(path, folded_bundle(), files={"plot.png": b"\x89PNG fake"})
    return path


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_round_trip_gives_identical_predictions_and_explanations(saved: Path) -> None:
    original = folded_bundle()
    loaded = load_bundle(saved)
    assert loaded.manifest["model_format"] == "skops"
    assert loaded.levels == (Level.RAW, Level.ENGINEERED)
    np.testing.assert_array_equal(loaded.predict(ROWS).probabilities, original.predict(ROWS).probabilities)
    for level in (Level.RAW, Level.ENGINEERED):
        a, b = original.explain(ROWS, level), loaded.explain(ROWS, level)
        np.testing.assert_array_equal(a.values, b.values)
        assert a.feature_names == b.feature_names and a.level is b.level is level
        b.check_additivity()
    assert loaded.explain(ROWS, Level.RAW).n_features == X.shape[1]
    assert loaded.schema == original.schema and loaded.report == bundle_report(original)
    assert loaded.report is not None and loaded.report.explainer.levels == ("raw", "engineered")


def _reseal(path: Path, name: str) -> None:
    """Record file `name`'s new sha256 in the manifest, as someone who can write the store could."""
    import hashlib

    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"][name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    (path / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: {**r, "explainer": {**r["explainer"], "method": 3}}, "explainer.method"),
        (lambda r: {k: v for k, v in r.items() if k != "task"}, "task"),
        (
            lambda r: {**r, "fidelity": {"method": "kernel", "exact": False, "median_relative_l2": 0.1}},
            "fidelity.median_relative_l2",
        ),
        (lambda r: {**r, "metrics": {"accuracy": "high"}}, "metrics.accuracy"),
    ],
    ids=["mistyped", "missing", "renamed", "not a number"],
)
def test_a_report_off_its_schema_is_refused_naming_the_field(
    saved: Path, tmp_path: Path, change: Any, field: str
) -> None:
    path = _copy(saved, tmp_path / "b")
    report = json.loads((path / REPORT).read_text())
    (path / REPORT).write_text(json.dumps(change(report)))
    _reseal(path, REPORT)
    with pytest.raises(BundleError, match=rf"{REPORT}.*'{re.escape(field)}'"):
        load_bundle(path)
    with pytest.raises(BundleError, match=rf"{REPORT}.*'{re.escape(field)}'"):
        verify_bundle(path)  # what `bentoml serve` checks before any worker starts


def test_the_manifest_lists_every_file_with_its_digest(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == files
    assert {"scikit-learn", "numpy", "shap", "skops"} <= set(manifest["libraries"])
    assert manifest["model_libraries"] == ["scikit-learn"]


def test_a_tampered_file_is_refused_by_name(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path / "b")
    schema = json.loads((path / SCHEMA).read_text())
    schema["features"][0]["maximum"] = 1e9
    (path / SCHEMA).write_text(json.dumps(schema))
    with pytest.raises(BundleError, match=r"schema\.json has been modified"):
        load_bundle(path)


def test_a_tampered_model_is_refused_before_it_is_loaded(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path / "b")
    with open(path / MODEL_SKOPS, "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"model\.skops has been modified"):
        load_bundle(path)


def test_another_scikit_learn_version_is_refused_naming_both(saved: Path, tmp_path: Path) -> None:
    import sklearn

    path = _copy(saved, tmp_path / "b")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["libraries"]["scikit-learn"] = "1.5.0"
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as caught:
        load_bundle(path)
    message = str(caught.value)
    assert "scikit-learn 1.5.0" in message and f"scikit-learn {sklearn.__version__}" in message


def test_another_numpy_minor_version_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path / "b")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["libraries"]["numpy"] = "1.26.4"
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"numpy 1\.26\.4.*numpy \d"):
        verify_bundle(path)


def test_the_store_digest_of_the_manifest_is_checked(saved: Path, tmp_path: Path) -> None:
    digest = manifest_digest(saved)
    load_bundle(saved, manifest_sha256=digest)
    path = _copy(saved, tmp_path / "b")
    (path / MANIFEST).write_text((path / MANIFEST).read_text() + "\n")
    with pytest.raises(BundleError, match=r"manifest\.json has been modified"):
        load_bundle(path, manifest_sha256=digest)


def test_unlisted_files_are_refused_but_the_stores_own_file_is_not(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path / "b")
    (path / "model.yaml").write_text("name: written by the model store\n")
    load_bundle(path)
    (path / "extra.bin").write_bytes(b"?")
    with pytest.raises(BundleError, match=r"extra\.bin"):
        load_bundle(path)


def test_a_missing_file_is_named(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path / "b")
    (path / "plot.png").unlink()
    with pytest.raises(BundleError, match=r"plot\.png is missing"):
        load_bundle(path)


def _double(Z: Any) -> Any:
    return Z * 2.0


def test_a_model_skops_cannot_hold_safely_falls_back_to_joblib(tmp_path: Path) -> None:
    pre = make_pipeline(FunctionTransformer(_double), StandardScaler())
    data = X[NUMERIC].fillna(0.0)
    model = _quiet_fit(Pipeline([("pre", pre), ("clf", LogisticRegression())]), data)
    bundle = Bundle(model, make_explainer(model, data, "exact", n_background=5), _schema(model, data))
    manifest = save_bundle(tmp_path / "b", bundle)
    assert manifest["model_format"] == "joblib" and (tmp_path / "b" / MODEL_JOBLIB).is_file()
    with pytest.raises(BundleError, match=r"model\.joblib .*pickle.*refused.*ALLOW_PICKLE_BUNDLES"):
        load_bundle(tmp_path / "b")
    loaded = load_bundle(tmp_path / "b", allow_pickle=True)
    np.testing.assert_allclose(loaded.explain(data.iloc[:3]).values, bundle.explain(data.iloc[:3]).values)


def test_skops_types_outside_the_allow_list_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scoring.bundle

    mapper = ColumnMapper([(["city"], OneHotEncoder(handle_unknown="ignore")), (["visits", "income"], None)])
    bundle = folded_bundle(mapper)
    assert save_bundle(tmp_path / "b", bundle)["model_format"] == "skops"
    allowed = tuple(t for t in scoring.bundle.TRUSTED_TYPES if t != "scoring.mapper.ColumnMapper")
    monkeypatch.setattr(scoring.bundle, "TRUSTED_TYPES", allowed)
    with pytest.raises(BundleError, match=r"allow-list.*ColumnMapper"):
        load_bundle(tmp_path / "b")


def test_tree_ensembles_are_saved_with_skops(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    data = X[NUMERIC].fillna(0.0)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(data, y)
    bundle = Bundle(model, make_explainer(model, data), _schema(model, data))
    assert save_bundle(tmp_path / "b", bundle)["model_format"] == "skops"
    loaded = load_bundle(tmp_path / "b")
    np.testing.assert_array_equal(loaded.explain(data.iloc[:4]).values, bundle.explain(data.iloc[:4]).values)


def test_a_pipeline_without_a_feature_map_explains_raw_columns_only(tmp_path: Path) -> None:
    bundle = raw_bundle()
    save_bundle(tmp_path / "b", bundle)
    loaded = load_bundle(tmp_path / "b")
    assert loaded.levels == (Level.RAW,) and loaded.feature_map is None
    rows = X[NUMERIC].fillna(0.0).iloc[:4]
    explanation = loaded.explain(rows)
    assert explanation.feature_names == tuple(NUMERIC)
    explanation.check_additivity()
    with pytest.raises(ValidationError, match="mixes columns"):
        loaded.explain(rows, Level.ENGINEERED)


def test_a_model_fitted_on_arrays_is_given_arrays(recwarn: pytest.WarningsRecorder) -> None:
    data = X[NUMERIC].fillna(0.0)
    model = LogisticRegression().fit(data.to_numpy(), y)
    bundle = Bundle(
        model, make_explainer(model, data.to_numpy(), feature_names=NUMERIC), _schema(model, data)
    )
    bundle.predict(data.iloc[:3])
    bundle.explain(data.iloc[:3])
    assert not [w for w in recwarn if "feature names" in str(w.message)]


def test_explainer_state_from_another_code_version_is_refused_by_name(saved: Path, tmp_path: Path) -> None:
    """Digests match (the files are as written), but the state has a parameter this code lacks."""
    import hashlib

    path = _copy(saved, tmp_path / "b")
    state = path / "explainer" / STATE_FILE
    doc = json.loads(state.read_text())
    doc["params"]["a_parameter_from_elsewhere"] = 1
    state.write_text(json.dumps(doc))
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"][f"explainer/{STATE_FILE}"] = hashlib.sha256(state.read_bytes()).hexdigest()
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"explainer/ holds explainer state .*a_parameter_from"):
        load_bundle(path)


def test_state_that_loads_but_cannot_explain_is_refused_at_load(saved: Path, tmp_path: Path) -> None:
    """Explainer arrays of a shape this code cannot use (as a bundle of another development
    version has), digests re-sealed: load_bundle refuses it, not the first request."""
    import shutil

    from tests.service.planted import reseal

    folder = tmp_path / "bundle"
    shutil.copytree(saved, folder)
    coef = np.load(folder / "explainer" / "coef.npy")
    np.save(folder / "explainer" / "coef.npy", coef[:, :-1], allow_pickle=False)  # one feature short
    reseal(folder)
    with pytest.raises(BundleError, match="cannot explain a row with this version of the code"):
        load_bundle(folder)
