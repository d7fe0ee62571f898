"""The explanations dashboard: a static page (no CDN, no build step) and the bundle's evaluation
sample as JSON, as a small Starlette app the service mounts at /dashboard.

Every computation over the sample (cohorts, metrics, importance, charts) runs in the page; new
predictions for what-if and ICE come from the service's own POST /predict.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoring.bundle import Bundle
from scoring.description import describe
from scoring.sample import load_sample
from scoring.schema import jsonable

STATIC = Path(__file__).parent / "static"
# level 9 takes seconds on a few MB for a few percent less
GZIP_LEVEL = 5

# The page loads only its own files and talks only to this service; who may frame it is the
# last directive (the service: only itself; a notebook's server: the notebook's page too).
CSP_BASE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
)
CSP = CSP_BASE + "frame-ancestors 'self'"


@dataclass(frozen=True)
class DashboardSource:
    """What the dashboard shows: a loaded bundle, the folder it was loaded from (which holds the
    sample) and the model's name as the service knows it."""

    bundle: Bundle
    path: Path
    name: str = ""


def build_dashboard_app(
    source: Callable[[], DashboardSource] | None = None, *, frame_ancestors: str = "'self'"
) -> Starlette:
    """The dashboard app. `source` gives the bundle when first needed; by default it is read from
    the running BentoML service (`bentoml.get_current_service()`). `frame_ancestors` is the CSP
    list of pages allowed to show it in a frame."""
    get_source = source or service_source
    cache: dict[str, bytes] = {}
    lock = threading.Lock()

    def data_bytes() -> dict[str, bytes]:
        """The data as JSON and gzipped, built once (a 5,000-row sample is a few MB)."""
        with lock:
            if not cache:
                plain = build_data(get_source())
                cache["identity"] = plain
                cache["gzip"] = gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0)
            return cache

    async def index(request: Request) -> Response:
        if not request.url.path.endswith("/"):
            # relative links (static/..., data, ../predict) resolve against the trailing slash
            return RedirectResponse(request.url.path + "/", status_code=307)
        if not cache:  # start building the data the page is about to ask for
            threading.Thread(target=data_bytes, name="dashboard-data", daemon=True).start()
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def data(request: Request) -> Response:
        built = await run_in_threadpool(data_bytes)
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(built["gzip"], media_type="application/json", headers=headers)
        return Response(built["identity"], media_type="application/json", headers=headers)

    return Starlette(
        routes=[
            Route("/", index, methods=["GET", "HEAD"]),
            Route("/data", data, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders, csp=CSP_BASE + f"frame-ancestors {frame_ancestors}"),
            Middleware(GZipMiddleware, minimum_size=1024, compresslevel=GZIP_LEVEL),
        ],
    )


def build_data(source: DashboardSource) -> bytes:
    """The page's data as JSON bytes: `{"model": ..., "report": ..., "sample": ...}`.

    The sample document is spliced in as stored, so a 5,000-row sample is not parsed and re-encoded.
    """
    sample = load_sample(source.path)
    described = describe(source.bundle)
    model = {
        "name": source.name,
        "task": described.task,
        "target": described.target,
        "classes": list(described.schema.classes),
        "features": [f.to_json() for f in described.schema.features],
        "levels": [str(level) for level in described.levels],
        "method": described.method,
        "space": described.space,
        "output_names": list(described.outputs),
        "model_class": described.model_class,
        "libraries": {k: v for k, v in described.trained_with.items() if k != "python"},
    }
    head = json.dumps({"model": jsonable(model), "report": described.report.to_json()}, allow_nan=False)
    return head[:-1].encode() + b',"sample":' + sample.to_bytes() + b"}"


def service_source() -> DashboardSource:
    """The bundle of the running service instance."""
    import bentoml

    service = bentoml.get_current_service()
    bundle = getattr(service, "bundle", None)
    if not isinstance(bundle, Bundle):
        raise RuntimeError("the current service has no loaded bundle at `.bundle`")
    path = getattr(service, "bundle_path", None)
    if path is None:
        raise RuntimeError("the current service does not say where its bundle lives (`.bundle_path`)")
    return DashboardSource(bundle=bundle, path=Path(path), name=str(getattr(service, "bundle_tag", "")))


class SecurityHeaders:
    """Adds the content security policy (and no-sniff) to every dashboard response."""

    def __init__(self, app: ASGIApp, csp: str = CSP) -> None:
        self.app = app
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", self.csp))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
