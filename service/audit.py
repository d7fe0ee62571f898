"""The sampled audit: a fraction of the served rows is explained again against a high-accuracy
reference (`scoring.audit`) in a background thread, off the request path. The running error is
on /metrics and in /metadata, so that fidelity drift in production shows.

Rows wait in a bounded queue; when it is full, sampled rows are dropped and counted, never
waited for. Off by default (AUDIT_FRACTION=0).

The audit never takes more than `cpu_share` of the time: after auditing for t seconds the thread
rests t * (1 - share) / share (the service's AUDIT_CPU_SHARE, 0.05 by default), and runs at the
lowest CPU priority, so it cannot starve the request path of the worker's core or of the GIL.
`close()` stops within a few seconds even with a full queue: rows not yet audited are dropped and
counted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

from scoring.audit import Audit, audit_unavailable
from scoring.bundle import Bundle

logger = logging.getLogger("bentoml.service.explained_model.audit")

ERROR_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0)


@functools.cache
def audit_metrics() -> dict[str, Any]:
    """The audit's Prometheus metrics (created on first use: in the worker, once per process)."""
    from prometheus_client import Counter, Gauge, Histogram

    def gauge(name: str, text: str) -> Any:
        return Gauge(name, text, multiprocess_mode="mostrecent")

    return {
        "rows": Counter("explained_model_audit_rows", "Served rows audited against the reference"),
        "dropped": Counter(
            "explained_model_audit_dropped_rows", "Rows sampled for audit but dropped: the queue was full"
        ),
        "failed": Counter("explained_model_audit_failed_rows", "Rows whose audit raised an error"),
        "error": Histogram(
            "explained_model_audit_relative_error",
            "Per audited row: ||served - reference|| / ||reference|| over features and outputs",
            buckets=ERROR_BUCKETS,
        ),
        "median": gauge(
            "explained_model_audit_median_relative_error", "Median relative L2 error over the audit window"
        ),
        "p90": gauge(
            "explained_model_audit_p90_relative_error", "p90 relative L2 error over the audit window"
        ),
        "expected": gauge(
            "explained_model_audit_expected_relative_error",
            "Median relative L2 error measured on held-out rows at fit time",
        ),
    }


def lower_priority() -> None:
    """Give the calling thread the lowest CPU priority (nice 19; Linux schedules threads one by
    one), so the request path's threads run first when both want the core."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class ServiceAudit:
    """Samples served rows with probability `fraction` and audits them in a daemon thread.

    `max_pending` bounds the rows waiting; `evaluations_per_row` sizes the reference;
    `cpu_share` (0, 1] bounds the share of time the thread audits (1: no rest).
    When `fraction` is 0, or the explainer cannot be audited, `offer` does nothing and
    `summary()` says why.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        fraction: float,
        max_pending: int,
        evaluations_per_row: int,
        cpu_share: float = 1.0,
        seed: int = 0,
    ):
        if not 0.0 < cpu_share <= 1.0:
            raise ValueError(f"cpu_share must be in (0, 1], got {cpu_share}")
        self.bundle = bundle
        self.cpu_share = cpu_share
        self.busy_s = 0.0  # time spent auditing
        self._stop = threading.Event()
        self.fraction = fraction
        self.max_pending = max_pending
        self.reason = "off (AUDIT_FRACTION=0)" if fraction == 0 else audit_unavailable(bundle.explainer)
        self.dropped = 0
        self.failed = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._rng = np.random.default_rng(seed)
        self._queue: queue.Queue[pd.DataFrame | None] = queue.Queue()
        self._audit: Audit | None = None
        self._thread: threading.Thread | None = None
        if self.reason is None:
            self._audit = Audit(bundle.explainer, evaluations_per_row=evaluations_per_row, seed=seed)
            self._metrics = audit_metrics()  # before the thread starts: creating them is not thread-safe
            expected = self._audit.summary()["expected_median_rel_l2"]
            if expected is not None:
                self._metrics["expected"].set(expected)
            self._thread = threading.Thread(target=self._run, name="explanation-audit", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return self._audit is not None

    def offer(self, frame: pd.DataFrame) -> None:
        """Sample rows of a served (validated) frame for the audit; never blocks."""
        if self._audit is None:
            return
        picked = np.flatnonzero(self._rng.random(len(frame)) < self.fraction)
        if len(picked) == 0:
            return
        with self._lock:
            room = self.max_pending - self._pending
            kept = picked[: max(room, 0)]
            self._pending += len(kept)
            self.dropped += len(picked) - len(kept)
        if len(picked) > len(kept):
            self._metrics["dropped"].inc(len(picked) - len(kept))
        if len(kept):
            self._queue.put(frame.iloc[kept].reset_index(drop=True))

    def _run(self) -> None:
        assert self._audit is not None
        metrics = self._metrics
        lower_priority()
        while (rows := self._queue.get()) is not None:
            if self._stop.is_set():
                self._drop(len(rows))
                continue
            start = time.perf_counter()
            try:
                errors, noise = self._audit.measure(self.bundle.explainer_rows(rows))
            except Exception:
                logger.exception("the audit of %d rows failed", len(rows))
                metrics["failed"].inc(len(rows))
                with self._lock:
                    self.failed += len(rows)
            else:
                with self._lock:
                    self._audit.record(errors, noise)
                    summary = self._audit.summary()
                metrics["rows"].inc(len(errors))
                for error in errors:
                    metrics["error"].observe(float(error))
                metrics["median"].set(summary["median_rel_l2"])
                metrics["p90"].set(summary["p90_rel_l2"])
            finally:
                with self._idle:
                    self._pending -= len(rows)
                    self._idle.notify_all()
            took = time.perf_counter() - start
            self.busy_s += took
            if self.cpu_share < 1.0:
                self._stop.wait(took * (1.0 - self.cpu_share) / self.cpu_share)

    def _drop(self, n: int) -> None:
        """Rows queued but not audited: the audit is closing."""
        with self._idle:
            self.dropped += n
            self._pending -= n
            self._idle.notify_all()
        self._metrics["dropped"].inc(n)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued row is audited (tests, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread: the row being audited finishes, rows still queued are dropped and
        counted. Waits at most `timeout` seconds for the thread."""
        if self._thread is not None:
            self._stop.set()
            self._queue.put(None)
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                logger.warning("the audit did not stop within %.0f s; left to end with the process", timeout)
            self._thread = None

    def summary(self) -> dict[str, Any]:
        """For /metadata: whether the audit runs (or why not), its settings and running figures."""
        out: dict[str, Any] = {"enabled": self.enabled, "fraction": self.fraction, "reason": self.reason}
        if self._audit is not None:
            with self._lock:
                out.update(pending_rows=self._pending, dropped_rows=self.dropped, failed_rows=self.failed)
                out.update(self._audit.summary())
        return out
