"""ServiceAudit: sampled rows are audited in the background, the queue is bounded, the figures
reach /metrics' registry and /metadata, and bundles with exact explainers say why there is none."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from scoring.audit import Audit
from service.audit import ServiceAudit
from tests.service.bundles import amortized_bundle, amortized_rows, logistic_bundle


@pytest.fixture(scope="module")
def bundle():  # type: ignore[no-untyped-def]
    return amortized_bundle()


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_every_sampled_row_is_audited_off_the_request_path(bundle) -> None:  # type: ignore[no-untyped-def]
    before = metric("explained_model_audit_rows_total")
    audit = ServiceAudit(bundle, fraction=1.0, max_pending=64, evaluations_per_row=3_000, seed=1)
    try:
        rows = amortized_rows(10)
        audit.offer(rows.iloc[:4])
        audit.offer(rows.iloc[4:])
        assert audit.drain(timeout=120)
        summary = audit.summary()
    finally:
        audit.close()
    assert summary["enabled"] and summary["audited_rows"] == 10
    assert summary["pending_rows"] == summary["dropped_rows"] == summary["failed_rows"] == 0
    assert metric("explained_model_audit_rows_total") - before == 10
    assert metric("explained_model_audit_median_relative_error") == summary["median_rel_l2"]
    assert metric("explained_model_audit_expected_relative_error") == summary["expected_median_rel_l2"]
    # the same figures as auditing the rows directly, with the same reference seeds
    direct = Audit(bundle.explainer, evaluations_per_row=3_000, seed=1)
    direct.check(rows.iloc[:4].to_numpy())
    direct.check(rows.iloc[4:].to_numpy())
    assert direct.summary()["median_rel_l2"] == pytest.approx(summary["median_rel_l2"], rel=1e-12)


def test_a_fraction_samples_about_that_share(bundle) -> None:  # type: ignore[no-untyped-def]
    audit = ServiceAudit(bundle, fraction=0.1, max_pending=1000, evaluations_per_row=500, seed=2)
    try:
        for i in range(20):
            audit.offer(amortized_rows(50, seed=i))
        assert audit.drain(timeout=120)
        audited = audit.summary()["audited_rows"]
    finally:
        audit.close()
    assert 70 <= audited <= 130  # 1,000 rows at 10%: binomial sd 9.5


def test_rows_beyond_the_queue_bound_are_dropped_and_counted(bundle) -> None:  # type: ignore[no-untyped-def]
    before = metric("explained_model_audit_dropped_rows_total")
    audit = ServiceAudit(bundle, fraction=1.0, max_pending=3, evaluations_per_row=500)
    try:
        audit.offer(amortized_rows(10))
        assert audit.drain(timeout=120)
        summary = audit.summary()
    finally:
        audit.close()
    assert summary["audited_rows"] == 3 and summary["dropped_rows"] == 7
    assert metric("explained_model_audit_dropped_rows_total") - before == 7


def test_off_by_default_and_not_for_exact_explainers(bundle) -> None:  # type: ignore[no-untyped-def]
    off = ServiceAudit(bundle, fraction=0.0, max_pending=8, evaluations_per_row=500)
    off.offer(amortized_rows(5))
    assert off.summary() == {"enabled": False, "fraction": 0.0, "reason": "off (AUDIT_FRACTION=0)"}
    exact = ServiceAudit(logistic_bundle(), fraction=1.0, max_pending=8, evaluations_per_row=500)
    exact.offer(amortized_rows(5))
    assert not exact.enabled and "closed form" in exact.summary()["reason"]
    off.close()
    exact.close()
