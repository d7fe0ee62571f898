"""Audit: served values checked again against the reference; against brute-force ground truth,
on a broken explainer, and refused where there is nothing to audit."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from scoring import UnsupportedModelError, make_explainer
from scoring.audit import Audit, audit_unavailable
from scoring.background import Background
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
    background = multiclass.X[FRESH:]
    # 2^8 coalitions x 260 background rows per row: the reference is exact
    audit = Audit(amortized, evaluations_per_row=2**8 * len(background))
    rows = multiclass.X[:6]
    errors = audit.check(rows)
    truth, _ = multiclass.truth(Background(background, np.full(len(background), 1 / len(background))), rows)
    np.testing.assert_allclose(errors, relative_l2(amortized.explain(rows).values, truth), rtol=1e-9)
    summary = audit.summary()
    assert summary["audited_rows"] == 6 and summary["window_rows"] == 6
    assert summary["reference_noise_median"] == 0.0
    assert summary["median_rel_l2"] == pytest.approx(float(np.median(errors)))
    assert summary["expected_median_rel_l2"] == amortized.fidelity_["amortized"]["median_rel_l2"]


def test_a_broken_explainer_shows(multiclass: Problem, amortized: AmortizedExplainer) -> None:
    broken = copy.deepcopy(amortized)
    broken.coef_ = -broken.coef_  # still exactly additive, but the values are wrong
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
