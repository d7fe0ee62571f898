"""Time bounds that BentoML's server leaves open or keeps at a cost: a client's headers, and the
compute time of a request.

Headers. BentoML runs each worker's HTTP server with uvicorn, whose protocol (h11, or httptools
when it is installed) times out only an idle kept-alive connection: a connection that sends part
of its request line or headers and then nothing is held for ever, and no ASGI middleware can see
it (an app is called only once the headers are in). So the protocol itself is given a deadline,
as nginx's `client_header_timeout`, Node's `headersTimeout` and Go's `ReadHeaderTimeout` do: from
the moment a connection opens, or from the first byte of a kept-alive connection's next request,
the headers must be complete within `header_timeout_s`. Past it the connection is answered 408
(when part of a request came; one log line with a request id) and closed. uvicorn bounds the
headers' size (h11: 16 KiB), so one fixed time fits every request; the body has its own deadline,
which grows with its size (`service.limits.RequestGuard`).

Compute. BentoML's `traffic.timeout` middleware arms one event-loop timer per request and never
cancels it: each timer keeps its request's context (the tracing span with its attributes, the
request id) alive for the whole timeout after the answer, so a worker's memory grows with
requests per second x timeout (about 3 KB per request: 100 req/s and 120 s hold ~11,000 of
them). `ComputeDeadline` keeps that middleware's contract (a request that has not begun its
answer within `timeout` seconds is cancelled and answered 504) with a deadline that ends with
its request.

`install_header_deadline(seconds)` and `install_compute_deadline()`, called when the service
module is imported (in a worker that is before BentoML builds its app and uvicorn its server),
put these in place of uvicorn's "auto" HTTP protocol and BentoML's timeout middleware. Each
raises RuntimeError when the seam it replaces is missing, so a server is never silently left
without its bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.limits import error_body

logger = logging.getLogger("bentoml.service.explained_model.requests")

AUTO = "uvicorn.protocols.http.auto:AutoHTTPProtocol"
PROTOCOL: type[asyncio.Protocol] | None = None  # what uvicorn's "auto" names once installed


class HeaderDeadline(asyncio.Protocol):
    """Placed before a uvicorn HTTP protocol class (which sets `cycle` once a request's headers
    are in, and `transport`, `loop`): closes a connection whose headers are late."""

    header_timeout_s: float = 10.0
    cycle: Any
    transport: Any
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None
    _awaited: Any = None  # the request cycle current when the deadline was set
    _partial = False  # whether bytes of the awaited request have arrived

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._await_headers()  # the first byte of a kept-alive connection's next request
        if self._header_timer is not None:
            self._partial = True
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._awaited:
            self._stop_waiting()  # a new request cycle: its headers are in

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._awaited = self.cycle
        self._partial = False
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._partial:
            self.transport.write(late_headers_response(self.header_timeout_s))
        self.transport.close()


def late_headers_response(seconds: float) -> bytes:
    """A whole HTTP/1.1 408 answer in the service's error body, logged as one line."""
    request_id = uuid.uuid4().hex[:16]
    message = f"the request headers did not arrive within {seconds:g} s"
    logger.warning("client error 408 (headers) request_id=%s: %s", request_id, message)
    body = json.dumps(error_body(message)).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\nx-request-id: {request_id}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def install_header_deadline(seconds: float) -> type[asyncio.Protocol]:
    """Make uvicorn's "auto" HTTP protocol close connections whose headers take over `seconds`;
    returns the protocol class. Raises RuntimeError when this uvicorn has no such seam, so that a
    server is never silently left without the deadline."""
    global PROTOCOL
    if not seconds > 0:
        raise ValueError(f"header_timeout_s must be > 0, got {seconds}")
    from uvicorn import config
    from uvicorn.importer import import_from_string

    if "auto" not in config.HTTP_PROTOCOLS:
        raise RuntimeError(
            "this uvicorn has no 'auto' HTTP protocol: the header deadline cannot be installed"
        )
    base = import_from_string(AUTO)
    PROTOCOL = type(f"HeaderDeadline{base.__name__}", (HeaderDeadline, base), {"header_timeout_s": seconds})
    config.HTTP_PROTOCOLS["auto"] = f"{__name__}:PROTOCOL"
    return PROTOCOL


class ComputeDeadline:
    """BentoML's `traffic.timeout`: a request that has not begun its answer within `timeout`
    seconds is cancelled and answered 504; once an answer has begun it has no deadline. Its
    timer is cancelled when the request ends, so nothing of a request outlives it."""

    def __init__(self, app: ASGIApp, timeout: float):
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.timeout(self.timeout)
        answered = False

        async def answer(message: Message) -> None:
            nonlocal answered
            if not answered:
                answered = True
                deadline.reschedule(None)  # the answer has begun: no deadline for the rest
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, answer)
        except TimeoutError:
            if answered or not deadline.expired():
                raise
            message = f"the request was not answered within {self.timeout:g} s"
            logger.warning("504 %s %s: %s", scope.get("method"), scope.get("path"), message)
            response = JSONResponse(error_body(message), status_code=504)
            await response(scope, receive, send)


_replaced: list[type] = []  # BentoML's own timeout middleware, once replaced


def install_compute_deadline() -> type:
    """Make BentoML build its `traffic.timeout` middleware as a ComputeDeadline; returns the
    class it replaces (BentoML's)."""
    from bentoml._internal.server.http import traffic

    current = getattr(traffic, "TimeoutMiddleware", None)
    if not isinstance(current, type):
        raise RuntimeError("this BentoML has no TimeoutMiddleware: the compute deadline cannot be installed")
    if current is not ComputeDeadline:
        _replaced.append(current)
    traffic.TimeoutMiddleware = ComputeDeadline  # type: ignore[misc,assignment]  # read when BentoML builds its app
    return _replaced[0]
