"""The audit never slows the request path: it works at most `cpu_share` of the time, and closing
it with a full queue takes seconds, the rows not audited dropped and counted."""

from __future__ import annotations

import time

import pytest

from service.audit import ServiceAudit
from tests.service.bundles import amortized_bundle, amortized_rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle():  # type: ignore[no-untyped-def]
    return amortized_bundle()


def test_the_audit_works_at_most_its_share_of_the_time(bundle) -> None:  # type: ignore[no-untyped-def]
    share = 0.2
    audit = ServiceAudit(bundle, fraction=1.0, max_pending=64, evaluations_per_row=20_000, cpu_share=share)
    try:
        rows = amortized_rows(40)
        start = time.perf_counter()
        for i in range(40):
            audit.offer(rows.iloc[i : i + 1])
        time.sleep(3.0)
        wall = time.perf_counter() - start
        busy = audit.busy_s
        audited = audit.summary()["audited_rows"]
    finally:
        audit.close()
    unit = busy / max(audited, 1)  # one row's audit: the share is kept between rows
    # the throttle's guarantee, whatever the machine's speed: work is at most the share of the
    # time, give or take the row in progress (a fast machine may finish all 40 rows within it)
    assert audited >= 1 and busy <= share * wall + 2 * unit, (busy, wall, audited)


def test_closing_with_a_full_queue_takes_seconds_and_counts_the_dropped(bundle) -> None:  # type: ignore[no-untyped-def]
    audit = ServiceAudit(bundle, fraction=1.0, max_pending=64, evaluations_per_row=20_000)
    rows = amortized_rows(64, seed=1)
    for i in range(64):
        audit.offer(rows.iloc[i : i + 1])
    time.sleep(0.2)
    start = time.perf_counter()
    audit.close()
    took = time.perf_counter() - start
    summary = audit.summary()
    assert took < 5.0
    assert summary["audited_rows"] + summary["dropped_rows"] + summary["failed_rows"] == 64
    assert summary["dropped_rows"] > 0 and summary["pending_rows"] == 0


def test_cpu_share_is_checked(bundle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="cpu_share"):
        ServiceAudit(bundle, fraction=0.5, max_pending=4, evaluations_per_row=100, cpu_share=0.0)
