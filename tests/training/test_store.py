"""The BentoML model store side: one model per version, bundle files at the top of its folder,
the manifest's sha256 in its metadata, loading verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring import BundleError, Level
from scoring.bundle import MANIFEST, MANIFEST_DIGEST_KEY, REPORT, SCHEMA, load_bundle, manifest_digest
from training import load_from_store, save_model
from training.package import PLOT


@pytest.fixture
def saved(bentoml_home: Path, mixed: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any) -> Any:
    X, y = mixed
    return save_model(
        "mixed_logistic",
        mixed_pipeline,
        X,
        X_eval=X.iloc[:40],
        y_eval=y.iloc[:40],
        progress=False,
        fidelity_rows=3,
    )


def test_the_bundle_is_one_model_in_the_store(bentoml_home: Path, saved: Any) -> None:
    import bentoml

    model = bentoml.models.get("mixed_logistic:latest")
    assert str(model.tag) == saved.tag and Path(model.path) == saved.path
    assert saved.path.is_relative_to(bentoml_home)
    top = {p.name for p in saved.path.iterdir()}
    assert {
        MANIFEST,
        SCHEMA,
        REPORT,
        PLOT,
        "model.skops",
        "explainer",
        "feature_map.json",
        "model.yaml",
    } <= top
    assert model.info.metadata[MANIFEST_DIGEST_KEY] == manifest_digest(saved.path)
    assert model.info.metadata["levels"] == ["raw", "engineered"]
    assert model.info.labels["explainer"] == "linear"
    assert "scikit-learn" in model.info.metadata["libraries"]


def test_what_the_service_does_loads_the_same_bundle(saved: Any, mixed: Any) -> None:
    import bentoml

    X, _ = mixed
    model = bentoml.models.get(saved.tag)
    bundle = load_bundle(model.path, manifest_sha256=model.info.metadata[MANIFEST_DIGEST_KEY])
    np.testing.assert_array_equal(
        bundle.explain(X.iloc[:5], Level.RAW).values, saved.bundle.explain(X.iloc[:5], Level.RAW).values
    )
    assert json.loads((saved.path / REPORT).read_text())["explainer"]["method"] == "linear"


def test_a_tampered_stored_file_is_refused(saved: Any) -> None:
    schema = saved.path / SCHEMA
    schema.write_text(schema.read_text().replace('"nullable": true', '"nullable": false', 1))
    with pytest.raises(BundleError, match=r"schema\.json has been modified"):
        load_from_store(saved.tag)


def test_an_edited_manifest_is_refused_by_the_store_digest(saved: Any) -> None:
    manifest_file = saved.path / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest["libraries"]["scikit-learn"] = "0.0.1"
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"manifest\.json has been modified"):
        load_from_store(saved.tag)
    with pytest.raises(BundleError, match=r"scikit-learn 0\.0\.1"):  # without the store digest: the version
        load_bundle(saved.path)


def test_each_save_is_a_new_version(bentoml_home: Path, saved: Any, mixed: Any, mixed_pipeline: Any) -> None:
    import bentoml

    X, _ = mixed
    again = save_model("mixed_logistic", mixed_pipeline, X, progress=False, fidelity_rows=3)
    assert again.tag != saved.tag
    assert {str(m.tag) for m in bentoml.models.list("mixed_logistic")} == {saved.tag, again.tag}
    assert str(again.report.metrics_on).startswith("none")
