"""Audit: served values checked again against the reference; against brute-force ground truth,
on a broken explainer, and refused where there is nothing to audit."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from scoring import UnsupportedModelError, make_explainer
from scoring.audit import Audit, audit_unavailable
from scoring.background import Background
from scoring.explainers import load_explainer
from scoring.explainers.amortized import AmortizedExplainer
from scoring.fidelity import relative_l2
from tests.scoring.conftest import Problem
from tests.scoring.test_amortized import FRESH, SMALL


@pytest.fixture(scope="module")
def amortized(multiclass: Problem) -> AmortizedExplainer:
    return AmortizedExplainer(**SMALL).fit(multiclass.model, multiclass.X[FRESH:])


def test_errors_equal_the_error_against_brute_force_values(
    multiclass: Problem, amortized: AmortizedExplainer
) -> None:
    summary = amortized.audit_background_
    # at most 100 centroids of the 260 fit rows, each the mean of at least 5, weighted by share
    assert 20 <= summary.size <= 52 and (summary.weights * 260 >= 5 - 1e-9).all()
    # 2^8 coalitions x 100 summary rows per row: the reference is exact
    audit = Audit(amortized, evaluations_per_row=2**8 * summary.size)
    rows = multiclass.X[:6]
    errors = audit.check(rows)
    truth, _ = multiclass.truth(Background(summary.rows, summary.weights), rows)
    np.testing.assert_allclose(errors, relative_l2(amortized.explain(rows).values, truth), rtol=1e-9)
    result = audit.summary()
    assert result["audited_rows"] == 6 and result["window_rows"] == 6
    assert result["reference_noise_median"] == 0.0
    assert result["median_rel_l2"] == pytest.approx(float(np.median(errors)))
    assert result["expected_median_rel_l2"] == amortized.fidelity_["audit"]["median_rel_l2"]


def test_the_state_keeps_a_summary_not_the_training_rows(
    multiclass: Problem, amortized: AmortizedExplainer, tmp_path: Path
) -> None:
    amortized.save(tmp_path / "state")
    fit_rows = {row.tobytes() for row in multiclass.X}
    for stored in (tmp_path / "state").glob("*.npy"):
        array = np.load(stored, allow_pickle=False)
        if array.ndim == 2 and array.shape[1] == multiclass.n_features:
            assert not any(row.tobytes() in fit_rows for row in array), stored.name
    loaded = load_explainer(tmp_path / "state", multiclass.model)
    kept = loaded.audit_background_  # type: ignore[attr-defined]
    np.testing.assert_array_equal(kept.rows, amortized.audit_background_.rows)
    np.testing.assert_array_equal(kept.weights, amortized.audit_background_.weights)
    figures = amortized.fidelity_["audit"]
    assert figures["background_rows"] == amortized.audit_background_.size
    # the summary moves the values less than the amortized explainer's own error
    assert figures["summary_shift_median_rel_l2"] < amortized.fidelity_["amortized"]["median_rel_l2"]
    # the grouping kept has the closest value function of those tried (unweighted among them)
    grouping = figures["grouping"]
    assert 0.0 <= grouping["value_gap"] <= grouping["value_gap_unweighted"]


def test_a_broken_explainer_shows(multiclass: Problem, amortized: AmortizedExplainer) -> None:
    broken = copy.deepcopy(amortized)
    broken.coef_ = -broken.coef_  # still exactly additive, but the values are wrong
    broken.effect_coef_ = -broken.effect_coef_
    broken._fold()
    rows = multiclass.X[:20]
    good, bad = Audit(amortized, evaluations_per_row=5_000), Audit(broken, evaluations_per_row=5_000)
    good.check(rows)
    bad.check(rows)
    broken.explain(rows).check_additivity(atol=1e-12)
    assert bad.summary()["median_rel_l2"] > max(0.5, 3 * good.summary()["median_rel_l2"])


def test_a_sampled_reference_reports_its_noise(multiclass: Problem, amortized: AmortizedExplainer) -> None:
    audit = Audit(amortized, evaluations_per_row=2_000, window=5)
    audit.check(multiclass.X[:4])
    audit.check(multiclass.X[4:8])
    summary = audit.summary()
    assert summary["audited_rows"] == 8 and summary["window_rows"] == 5  # the last five rows
    assert summary["reference_noise_median"] > 0
    assert summary["median_rel_l2_denoised"] <= summary["median_rel_l2"]


def test_explainers_without_a_background_are_not_audited(multiclass: Problem) -> None:
    kernel = make_explainer(multiclass.model, multiclass.X, "kernel", n_background=5, budget=32)
    assert "kernel" in str(audit_unavailable(kernel))
    with pytest.raises(UnsupportedModelError, match="cannot audit"):
        Audit(kernel)
    exact = make_explainer(multiclass.model, multiclass.X[:40], "exact", n_background=4)
    assert "nothing to audit" in str(audit_unavailable(exact))
