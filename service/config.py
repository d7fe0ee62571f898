"""The service's settings, read once from environment variables (each has a working default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from scoring.fidelity import AUDIT_EVALUATIONS_PER_ROW
from scoring.refine import DEFAULT_MAX_MS
from scoring.signing import signing_key_from
from service.auth import tokens_from
from service.bundle_ref import DEFAULT_BUNDLE, bundle_tag

T = TypeVar("T", int, float)


@dataclass(frozen=True)
class Settings:
    """`bundle`: the model-store tag to serve; `max_rows`: rows per request; `max_body_bytes`:
    request body size (413 above it); `batch_max_rows`: rows explained together across concurrent
    requests (1 turns batching off); `batch_wait_ms`: how long a batch waits for more requests
    (0: none; requests that arrive while one batch runs form the next); `audit_fraction`: share of
    served rows explained again against a high-accuracy reference in the background (0: off);
    `audit_max_pending`: rows waiting for the audit (more are dropped, and counted);
    `audit_evaluations`: model evaluations the reference may spend per audited row;
    `allow_pickle_bundles`: load a bundle whose model is a pickle (joblib), which runs code from
    the store (off: such bundles are refused); `signing_key`: when set, only bundles signed with
    it are served (`scoring.signing`); `refine_max_ms`: milliseconds per row the default
    refinement may spend on rows out of range or stated far less certain than usual (0: off;
    env REFINE_MAX_MS); `reject_beyond_range`: a multiple k > 0 of each numeric feature's training
    range: a value more than k ranges beyond it gets a 400 naming the row and field (None: off;
    env REJECT_BEYOND_RANGE, `scoring.support.reject_beyond_range`)."""

    bundle: str = DEFAULT_BUNDLE
    max_rows: int = 1000
    max_body_bytes: int = 2 * 1024 * 1024
    batch_max_rows: int = 256
    batch_wait_ms: float = 0.0
    audit_fraction: float = 0.0
    audit_max_pending: int = 64
    audit_evaluations: int = AUDIT_EVALUATIONS_PER_ROW
    allow_pickle_bundles: bool = False
    refine_max_ms: float = DEFAULT_MAX_MS
    reject_beyond_range: float | None = None
    signing_key: bytes | None = field(default=None, repr=False)
    # time a client has to send its body: body_timeout_s plus body_seconds_per_mb per MiB (408 after)
    body_timeout_s: float = 5.0
    body_seconds_per_mb: float = 2.0
    # requests answered at once, counted once their body is in (429 beyond, /readyz 503 while full)
    max_in_flight: int = 256
    # an oversized body is read and dropped up to this size, so every client reads the 413
    max_discard_bytes: int = 64 * 1024 * 1024
    # time a connection has to deliver a request's headers (408 and closed after; service.deadlines)
    header_timeout_s: float = 10.0
    # bearer tokens every API and dashboard route requires (none: open); health/metrics too if set
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    auth_health: bool = False
    # the dashboard and its data endpoint (/dashboard/...), which serve held-out rows and labels
    dashboard: bool = True
    # the share of time the audit's thread may work (it rests the remainder), in (0, 1]
    audit_cpu_share: float = 0.05
    # BLAS/OpenMP threads of a worker: the explainers' products are small, and a second thread
    # costs more CPU than it saves (a 32-row request: 30 ms of CPU on 2 threads, 11 ms on one)
    blas_threads: int = 1

    def __post_init__(self) -> None:
        positive = (
            "max_rows",
            "max_body_bytes",
            "batch_max_rows",
            "audit_max_pending",
            "audit_evaluations",
            "blas_threads",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.refine_max_ms <= 1000:
            raise ValueError(f"refine_max_ms must be in [0, 1000], got {self.refine_max_ms}")
        if self.reject_beyond_range is not None and not 0 < self.reject_beyond_range < float("inf"):
            raise ValueError(f"reject_beyond_range must be a number > 0, got {self.reject_beyond_range}")
        if self.max_in_flight < 1 or self.max_discard_bytes < 1:
            raise ValueError(f"max_in_flight and max_discard_bytes must be at least 1, got {self}")
        if not 0.0 < self.audit_cpu_share <= 1.0:
            raise ValueError(f"audit_cpu_share must be in (0, 1], got {self.audit_cpu_share}")
        if not self.header_timeout_s > 0:
            raise ValueError(f"header_timeout_s must be > 0, got {self.header_timeout_s}")
        if self.body_timeout_s <= 0 or self.body_seconds_per_mb < 0:
            raise ValueError(f"body_timeout_s must be > 0 and body_seconds_per_mb >= 0, got {self}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")
        if not 0.0 <= self.audit_fraction <= 1.0:
            raise ValueError(f"audit_fraction must be in [0, 1], got {self.audit_fraction}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from BUNDLE (else the Bento's own bundle), MAX_ROWS, MAX_BODY_BYTES,
        BATCH_MAX_ROWS, BATCH_WAIT_MS, AUDIT_FRACTION, AUDIT_MAX_PENDING, AUDIT_EVALUATIONS,
        ALLOW_PICKLE_BUNDLES and BUNDLE_SIGNING_KEY / BUNDLE_SIGNING_KEY_FILE."""
        default = cls()
        return cls(
            bundle=bundle_tag(environ),
            max_rows=_number(environ, "MAX_ROWS", default.max_rows, int),
            refine_max_ms=_number(environ, "REFINE_MAX_MS", default.refine_max_ms, float),
            reject_beyond_range=_number(environ, "REJECT_BEYOND_RANGE", 0.0, float) or None,
            max_body_bytes=_number(environ, "MAX_BODY_BYTES", default.max_body_bytes, int),
            batch_max_rows=_number(environ, "BATCH_MAX_ROWS", default.batch_max_rows, int),
            batch_wait_ms=_number(environ, "BATCH_WAIT_MS", default.batch_wait_ms, float),
            audit_fraction=_number(environ, "AUDIT_FRACTION", default.audit_fraction, float),
            audit_max_pending=_number(environ, "AUDIT_MAX_PENDING", default.audit_max_pending, int),
            audit_evaluations=_number(environ, "AUDIT_EVALUATIONS", default.audit_evaluations, int),
            allow_pickle_bundles=_flag(environ, "ALLOW_PICKLE_BUNDLES", default.allow_pickle_bundles),
            signing_key=signing_key_from(environ),
            body_timeout_s=_number(environ, "BODY_TIMEOUT_S", default.body_timeout_s, float),
            body_seconds_per_mb=_number(environ, "BODY_SECONDS_PER_MB", default.body_seconds_per_mb, float),
            max_in_flight=_number(environ, "MAX_IN_FLIGHT", default.max_in_flight, int),
            max_discard_bytes=_number(environ, "MAX_DISCARD_BYTES", default.max_discard_bytes, int),
            header_timeout_s=_number(environ, "HEADER_TIMEOUT_S", default.header_timeout_s, float),
            api_tokens=tokens_from(environ),
            auth_health=_flag(environ, "AUTH_HEALTH", default.auth_health),
            dashboard=_flag(environ, "DASHBOARD", default.dashboard),
            audit_cpu_share=_number(environ, "AUDIT_CPU_SHARE", default.audit_cpu_share, float),
            blas_threads=_number(environ, "BLAS_THREADS", default.blas_threads, int),
        )


def _number(environ: Mapping[str, str], name: str, default: T, kind: type[T]) -> T:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ValueError(f"environment variable {name} must be {expected}, got {raw!r}") from None


FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return FLAGS[raw.strip().lower()]
    except KeyError:
        raise ValueError(f"environment variable {name} must be one of {sorted(FLAGS)}, got {raw!r}") from None
