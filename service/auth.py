"""Authentication when asked for: bearer tokens on every API and dashboard route.

With tokens configured (`API_TOKENS`: comma-separated, or `API_TOKENS_FILE`: one per line), a
request must carry `Authorization: Bearer <token>` matching one of them (compared in constant
time), else 401. Health and metrics routes (`/livez`, `/readyz`, `/healthz`, `/metrics`) stay
open unless `AUTH_HEALTH=true`. Independently, `DASHBOARD=false` turns the dashboard and its data
endpoint off (404). Without tokens nothing is checked.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Collection, Mapping
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from service.limits import send_error

HEALTH_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
DASHBOARD_PREFIX = "/dashboard"
TOKENS_ENV = "API_TOKENS"
TOKENS_FILE_ENV = "API_TOKENS_FILE"
MIN_TOKEN_CHARS = 16


def tokens_from(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The accepted bearer tokens from API_TOKENS or the file named by API_TOKENS_FILE; () if unset."""
    raw, file = environ.get(TOKENS_ENV) or None, environ.get(TOKENS_FILE_ENV) or None
    if raw is not None and file is not None:
        raise ValueError(f"set {TOKENS_ENV} or {TOKENS_FILE_ENV}, not both")
    if raw is not None:
        tokens = [t.strip() for t in raw.split(",")]
    elif file is not None:
        try:
            tokens = [t.strip() for t in Path(file).read_text().splitlines()]
        except OSError as e:
            raise ValueError(f"{TOKENS_FILE_ENV}={file!r} cannot be read: {e.strerror}") from None
    else:
        return ()
    tokens = [t for t in tokens if t]
    short = [t for t in tokens if len(t) < MIN_TOKEN_CHARS]
    if not tokens or short:
        raise ValueError(
            f"API tokens must be at least {MIN_TOKEN_CHARS} characters each (got {len(short)} shorter)"
        )
    return tuple(tokens)


class BearerAuth:
    """ASGI middleware: the token check and the dashboard switch (see the module's doc)."""

    def __init__(self, app: ASGIApp, *, tokens: Collection[str], protect_health: bool, dashboard: bool):
        self.app = app
        self.tokens = tuple(t.encode() for t in tokens)
        self.protect_health = protect_health
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if not self.dashboard and (path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/")):
            await send_error(scope, send, 404, "the dashboard is turned off on this server (DASHBOARD=false)")
            return
        if self.tokens and (self.protect_health or path not in HEALTH_PATHS) and not self.allowed(scope):
            message = "authentication required: send Authorization: Bearer <token>"
            await send_error(scope, send, 401, message, close=True, headers={"WWW-Authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)

    def allowed(self, scope: Scope) -> bool:
        given = b""
        for key, value in scope.get("headers", []):
            if key.lower() == b"authorization":
                given = value
        scheme, _, token = given.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return False
        token = token.strip()
        matched = False
        for accepted in self.tokens:  # every token compared, in constant time each
            matched |= hmac.compare_digest(token, accepted)
        return matched
