"""Both worked examples run and leave loadable bundles in the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring import Level
from training import load_from_store


def test_breast_cancer_svc(bentoml_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from examples import breast_cancer_svc

    saved = breast_cancer_svc.main(["--quick"])
    out = capsys.readouterr().out
    assert "saved example_breast_cancer_svc:" in out and "(amortized explainer)" in out and "P(benign)" in out
    assert "amortized is within tolerance" in out
    bundle = load_from_store(saved.tag)
    assert bundle.schema.names[0] == "mean radius" and bundle.classes == ("malignant", "benign")
    assert saved.report.metrics["accuracy"] == pytest.approx(0.904, abs=1e-3)


def test_mixed_table_at_both_levels(bentoml_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from examples import mixed_table

    saved = mixed_table.main(["--quiet"])
    out = capsys.readouterr().out
    assert "raw level, 7 values" in out and "both add up" in out
    X, _ = mixed_table.make_table()
    rows = X.iloc[:25]
    n_one_hot = 3 + 3 + 5  # plan, contract, region (with the imputer's "missing")
    for name, engineered_width in (("churn_logistic", 4 + n_one_hot), ("churn_mapper", 4 + n_one_hot)):
        bundle = load_from_store(saved[name].tag)
        raw = bundle.explain(rows, Level.RAW)
        engineered = bundle.explain(rows, Level.ENGINEERED)
        assert raw.feature_names == tuple(X.columns)  # one value per raw column
        assert engineered.n_features == engineered_width  # one per one-hot column
        np.testing.assert_allclose(raw.values.sum(axis=1), engineered.values.sum(axis=1), atol=1e-10)
        raw.check_additivity()
        engineered.check_additivity()
    # the two forms of the same preprocessing give the same model
    a, b = (
        load_from_store(saved[n].tag).predict(rows).probabilities for n in ("churn_logistic", "churn_mapper")
    )
    np.testing.assert_allclose(a, b, atol=1e-6)
