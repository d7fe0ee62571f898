"""The BentoML service: loads one bundle from the model store and answers every prediction with
its explanation. A thin class: checking requests (`service.requests`), batching
(`service.batching`) and building responses (`service.responses`) live in plain functions.

    bentoml serve service:ExplainedModel            # from the repo root
    BUNDLE=my_model:latest bentoml serve service:ExplainedModel
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import bentoml
from starlette.responses import Response
from threadpoolctl import threadpool_limits

from scoring.description import describe
from scoring.explanation import Level
from scoring.refine import Budget
from service.audit import ServiceAudit
from service.auth import BearerAuth
from service.batching import Job, MicroBatcher, Outcome, join_outcomes, run_jobs, split_job
from service.bundle_ref import exit_unless_servable, starts_a_server
from service.config import Settings
from service.dashboard.app import build_dashboard_app
from service.deadlines import install_compute_deadline, install_header_deadline
from service.errors import answered
from service.finite import finite_body, screen_rows
from service.limits import RequestGuard
from service.loading import load_served_bundle
from service.openapi import OpenAPITruth, describe_rows
from service.outputs import Outputs
from service.requests import PredictInput, parse_level, parse_predict
from service.responses import global_importance_body, metadata_body, model_body, predict_body
from service.schemas import (
    GlobalImportanceRequest,
    GlobalImportanceResponse,
    MetadataRequest,
    MetadataResponse,
    PredictRequest,
    PredictResponse,
)
from service.startup import arm_supervisor, exit_on_bundle_error

# a bentoml.* name: bentoml serve drops records of other loggers below WARNING
logger = logging.getLogger("bentoml.service.explained_model")

SETTINGS = Settings.from_env()
# a lone request of at most this many rows is answered on the event loop (service.batching)
INLINE_ROWS = 4
arm_supervisor()  # a worker that cannot load its bundle stops `bentoml serve` (exit 1), see service.startup
install_header_deadline(SETTINGS.header_timeout_s)  # uvicorn holds partial headers for ever otherwise
install_compute_deadline()  # traffic.timeout without BentoML's per-request timer (see service.deadlines)
if starts_a_server():
    exit_unless_servable(
        SETTINGS.bundle, signing_key=SETTINGS.signing_key, allow_pickle=SETTINGS.allow_pickle_bundles
    )


@functools.cache
def batch_rows_histogram() -> Any:
    """Rows per batch, on /metrics (created on first use: in the worker, once per process)."""
    from prometheus_client import Histogram

    return Histogram(
        "explained_model_batch_rows",
        "Rows predicted and explained together in one batch",
        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    )


@bentoml.asgi_app(build_dashboard_app(), path="/dashboard")
@bentoml.service(
    name="explained_model",
    workers=1,
    # requests whose body is still arriving count here too: RequestGuard's MAX_IN_FLIGHT bounds work
    traffic={"timeout": 120, "max_concurrency": 4096},
)
class ExplainedModel:
    """Predictions with local explanations, global importance and metadata of one bundle, and the
    explanations dashboard at /dashboard (it reads `bundle`, `bundle_path` and `bundle_tag`)."""

    bundle_model = bentoml.models.BentoModel(SETTINGS.bundle)

    def __init__(self) -> None:
        stored = self.bundle_model
        served = exit_on_bundle_error(
            lambda: load_served_bundle(
                stored.path,
                stored.info.metadata,
                name=stored.tag.name,
                version=str(stored.tag.version),
                signing_key=SETTINGS.signing_key,
                allow_pickle=SETTINGS.allow_pickle_bundles,
            ),
            tag=str(stored.tag),
        )
        # BLAS/OpenMP threads of every library loaded (numpy's, scipy's, scikit-learn's OpenMP),
        # here and in the thread that explains (OpenMP's limit is per thread)
        limit_threads = partial(threadpool_limits, limits=SETTINGS.blas_threads)
        limit_threads()
        self.settings = SETTINGS
        self.bundle = served.bundle
        self.bundle_path = served.path
        self.bundle_tag = served.tag
        self.model = model_body(served.name, served.version)
        self.outputs = Outputs.of(self.bundle)
        self.description = describe(self.bundle)
        self.batcher: MicroBatcher[Job, Outcome] = MicroBatcher(
            partial(
                run_jobs,
                self.bundle,
                default_budget=Budget(max_ms=SETTINGS.refine_max_ms) if SETTINGS.refine_max_ms > 0 else None,
            ),
            size=_job_rows,
            max_rows=SETTINGS.batch_max_rows,
            max_wait_ms=SETTINGS.batch_wait_ms,
            on_batch=_observe_batch,
            initializer=limit_threads,
            inline_rows=INLINE_ROWS,
        )
        self.audit = ServiceAudit(
            self.bundle,
            fraction=SETTINGS.audit_fraction,
            max_pending=SETTINGS.audit_max_pending,
            evaluations_per_row=SETTINGS.audit_evaluations,
            cpu_share=SETTINGS.audit_cpu_share,
        )
        logger.info("serving %s (%s explainer)", served.tag, self.bundle.explainer.method)

    @bentoml.on_shutdown
    def close(self) -> None:
        self.batcher.close()
        self.audit.close()

    @bentoml.api(route="/predict", input_spec=PredictRequest, output_spec=PredictResponse)
    async def predict(
        self,
        rows: Any = None,
        explain: Any = True,
        top_k: Any = None,
        level: Any = "raw",
        target: Any = "predicted",
        max_ms: Any = None,
        precision: Any = None,
    ) -> Response:
        """Predict each row and explain it: attributions of the predicted class (or `target`);
        `max_ms` / `precision` refine every row within a budget (scoring.refine)."""

        async def body() -> dict[str, Any]:
            checked = parse_predict(
                self.bundle,
                rows=rows,
                explain=explain,
                top_k=top_k,
                level=level,
                target=target,
                max_ms=max_ms,
                precision=precision,
                max_rows=self.settings.max_rows,
                reject_beyond=self.settings.reject_beyond_range,
            )
            return await self._answer(checked)

        return await answered("POST /predict", body())

    async def _answer(self, checked: PredictInput) -> dict[str, Any]:
        """The body answering a checked request: its rows predicted and explained in batches."""
        options = checked.options
        frame, screen = screen_rows(checked.frame)  # values near the float max: their own errors
        job = Job(frame, options.level if options.explain else None, options.budget)
        parts = split_job(job, self.settings.batch_max_rows)
        if len(parts) == 1:  # gather would wrap the one submission in a task of its own
            outcome = await self.batcher.submit(parts[0])
        else:
            outcome = join_outcomes(await asyncio.gather(*(self.batcher.submit(p) for p in parts)))
        body = predict_body(self.model, self.outputs, outcome.prediction, outcome.explanation, options)
        body = finite_body(body, outcome.prediction, outcome.explanation, screen, len(checked.frame))
        _observe_refinement(outcome.explanation)
        if options.explain:
            self.audit.offer(frame)
        return body

    @bentoml.api(
        route="/global_importance", input_spec=GlobalImportanceRequest, output_spec=GlobalImportanceResponse
    )
    async def global_importance(self, level: Any = None) -> Response:
        """Mean |attribution| per feature from the training report, at each level (or one)."""
        return await answered("POST /global_importance", self._global_importance(level))

    async def _global_importance(self, level: Any) -> dict[str, Any]:
        chosen: Level | None = None if level is None else parse_level(self.bundle, level)
        return global_importance_body(self.model, self.description, chosen)

    @bentoml.api(route="/metadata", input_spec=MetadataRequest, output_spec=MetadataResponse)
    async def metadata(self) -> Response:
        """The schema, classes, task, explainer and its fidelity, metrics and library versions."""
        return await answered("POST /metadata", self._metadata())

    async def _metadata(self) -> dict[str, Any]:
        return metadata_body(
            self.model, self.description, self.bundle.explainer, self.settings, self.audit.summary()
        )


@functools.cache
def refinement_counters() -> tuple[Any, Any]:
    """Refined rows and the model evaluations they cost, on /metrics (created on first use)."""
    from prometheus_client import Counter

    return (
        Counter("explained_model_refined_rows", "Explained rows refined with model evaluations"),
        Counter("explained_model_refinement_evaluations", "Model evaluations spent refining rows"),
    )


def _observe_refinement(explanation: Any) -> None:
    evaluations = None if explanation is None else explanation.evaluations
    if evaluations is None or not evaluations.any():
        return
    rows, cost = refinement_counters()
    rows.inc(int((evaluations > 0).sum()))
    cost.inc(int(evaluations.sum()))


def _job_rows(job: Job) -> int:
    return job.n_rows


def _observe_batch(jobs: int, rows: int) -> None:
    batch_rows_histogram().observe(rows)


def describe_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with /predict's rows, levels and targets of the served bundle."""
    served = bentoml.get_current_service()
    outputs: Outputs = served.outputs
    targets = [
        t for t in ("predicted", "all", *outputs.names, *(outputs.labels or ())) if not isinstance(t, bool)
    ]
    return describe_rows(
        document,
        served.bundle.schema,
        levels=[str(level) for level in served.bundle.levels],
        targets=[t for t in dict.fromkeys(targets) if isinstance(t, (str, int))],
        max_rows=SETTINGS.max_rows,
    )


def api_fields(apis: Any) -> dict[str, Sequence[str]]:
    """Each API route and the body keys it takes."""
    return {method.route: list(method.input_spec.model_fields) for method in apis.values()}


_service: Any = ExplainedModel  # a bentoml.Service; mypy does not apply class decorators
_service.add_asgi_middleware(  # outermost: no body is read for a request without a valid token
    BearerAuth, tokens=SETTINGS.api_tokens, protect_health=SETTINGS.auth_health, dashboard=SETTINGS.dashboard
)
_service.add_asgi_middleware(OpenAPITruth, describe=describe_openapi)
_service.add_asgi_middleware(
    RequestGuard,
    max_body_bytes=SETTINGS.max_body_bytes,
    routes=api_fields(_service.apis),
    body_timeout_s=SETTINGS.body_timeout_s,
    body_seconds_per_mb=SETTINGS.body_seconds_per_mb,
    max_in_flight=SETTINGS.max_in_flight,
    max_discard_bytes=SETTINGS.max_discard_bytes,
)
