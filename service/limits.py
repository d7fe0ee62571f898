"""An ASGI middleware guarding the JSON API routes before BentoML parses a body.

For a POST to one of `routes` it answers, itself and with the service's error body
(`{"error", "row", "field"}`, echoed text cut to a bound and always encodable):
- 400 for Content-Length together with Transfer-Encoding (request smuggling; connection closed),
  an invalid Content-Length, a body that is not a JSON object or has keys the route does not take;
- 413 for a body over `max_body_bytes`. So that every client reads it (urllib sends the whole
  body before it reads an answer, and sees a reset if the server closes first), the body is read
  and discarded up to `max_discard_bytes`; a client that sent `Expect: 100-continue` gets the
  413 at once, before it sends the body;
- 415 for a media type other than JSON;
- 408 when the body does not arrive in time: `body_timeout_s` plus `body_seconds_per_mb` for each
  MiB it declares (connection closed). A stalled upload is dropped at its deadline;
- 429 when `max_in_flight` requests are already being answered. A request takes one of these
  slots only once its whole body is in, so slow or stalled uploads never hold one.
Anything else passes through unchanged, with the body replayed to the app. Once the app has
worked WATCH_AFTER_S, the guard listens for the client going away: then the app's task is
cancelled, so work still queued for it (batched jobs included) is never computed.

`GET /readyz` answers 503 while every slot is taken, else it is BentoML's. Other paths and
methods (health, metrics, docs) are not touched, except that every 4xx answer, wherever it
comes from (BentoML's plain-text 404 and 405, pydantic's lists), is given the same error body.
Each 4xx the guard answers is logged as one line with a request id (also sent back in
`X-Request-Id`), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Collection, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("bentoml.service.explained_model.requests")

JSON_TYPES = ("application/json",)
MIB = 1024 * 1024
MAX_ECHO_CHARS = 200  # of a value quoted back in an error message
MAX_MESSAGE_CHARS = 1000
WATCH_AFTER_S = 0.02  # a request still working after this long has its client watched


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class ClientGone(Exception):
    pass


def safe_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters (saying how much was cut), lone surrogates escaped, so
    that any message can be written as UTF-8 JSON."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_body(message: str, *, row: int | None = None, field: str | None = None) -> dict[str, Any]:
    """The one error body of every 4xx/5xx the service writes, `{"error", "row", "field"}`; echoed
    text is cut to a bound and made encodable (`safe_text`)."""
    name = None if field is None else safe_text(field, MAX_ECHO_CHARS)
    return {"error": safe_text(message), "row": row, "field": name}


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        routes: Mapping[str, Collection[str]],
        body_timeout_s: float = 5.0,
        body_seconds_per_mb: float = 2.0,
        max_in_flight: int = 256,
        max_discard_bytes: int = 64 * MIB,
    ):
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
        if body_timeout_s <= 0 or body_seconds_per_mb < 0:
            raise ValueError(
                f"body_timeout_s must be > 0 and body_seconds_per_mb >= 0, got {body_timeout_s}, "
                f"{body_seconds_per_mb}"
            )
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = {path: frozenset(keys) for path, keys in routes.items()}
        self.body_timeout_s = body_timeout_s
        self.body_seconds_per_mb = body_seconds_per_mb
        self.max_in_flight = max_in_flight
        self.max_discard_bytes = max(max_discard_bytes, max_body_bytes)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = shape_errors(send)
        if scope.get("method") == "GET" and scope.get("path") == "/readyz" and self.exhausted:
            await self._reply(scope, send, 503, f"not ready: all {self.max_in_flight} request slots are busy")
            return
        if scope.get("method") != "POST" or scope.get("path") not in self.routes:
            await self.app(scope, receive, send)
            return
        await self._guard(scope, receive, send)

    @property
    def exhausted(self) -> bool:
        return self.in_flight >= self.max_in_flight

    def deadline_s(self, size: int) -> float:
        """Seconds a client has to deliver a body of `size` bytes."""
        return self.body_timeout_s + self.body_seconds_per_mb * size / MIB

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        length = headers.get("content-length")
        if length is not None and "transfer-encoding" in headers:
            await self._reply(scope, send, 400, "Content-Length and Transfer-Encoding together", close=True)
            return
        if length is not None and not length.isdigit():
            await self._reply(
                scope, send, 400, f"invalid Content-Length {safe_text(length, 40)!r}", close=True
            )
            return
        declared = int(length) if length is not None else None
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse_large(scope, receive, send, declared, headers)
            return
        media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media not in JSON_TYPES:
            message = f"expected Content-Type application/json, got {safe_text(media, 80)!r}"
            await self._reply(scope, send, 415, message, close=True)
            return
        started = time.monotonic()
        try:
            body = await self._read(receive, self.deadline_s(declared or self.max_body_bytes))
        except BodyTooLarge:
            await self._reply(scope, send, 413, self._too_large(), close=True)
            return
        except BodyTimeout:
            seconds = time.monotonic() - started
            message = f"the request body did not arrive within {seconds:.1f} s"
            await self._reply(scope, send, 408, message, close=True)
            return
        except ClientGone:
            return
        problem = self._check_body(body, self.routes[scope["path"]])
        if problem is not None:
            await self._reply(scope, send, *problem)
            return
        if self.exhausted:
            await self._reply(scope, send, 429, f"too many requests: all {self.max_in_flight} slots are busy")
            return
        self.in_flight += 1
        try:
            await _until_disconnect(self.app, scope, body, receive, send)
        finally:
            self.in_flight -= 1

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _refuse_large(
        self, scope: Scope, receive: Receive, send: Send, declared: int, headers: Mapping[str, str]
    ) -> None:
        """413, read by every client: before the body when it waits for 100-continue, else after
        reading (and dropping) the body, when it is not beyond what we are willing to discard."""
        if headers.get("expect", "").lower() == "100-continue" or declared > self.max_discard_bytes:
            await self._reply(scope, send, 413, self._too_large(), close=True)
            return
        with contextlib.suppress(BodyTimeout, ClientGone, BodyTooLarge):
            await self._read(receive, self.deadline_s(declared), keep=False, limit=self.max_discard_bytes)
        await self._reply(scope, send, 413, self._too_large(), close=True)

    async def _read(
        self, receive: Receive, seconds: float, *, keep: bool = True, limit: int | None = None
    ) -> bytes:
        try:
            return await asyncio.wait_for(self._collect(receive, keep, limit or self.max_body_bytes), seconds)
        except TimeoutError:
            raise BodyTimeout from None

    @staticmethod
    async def _collect(receive: Receive, keep: bool, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            if keep:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _check_body(body: bytes, keys: frozenset[str]) -> tuple[int, str, str | None] | None:
        if not body.strip():
            return None  # BentoML reads an empty body as {}
        try:
            document: Any = json.loads(body)
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return 400, f"malformed JSON: {e}", None
        if not isinstance(document, dict):
            return 400, f"expected a JSON object, got a JSON {type(document).__name__}", None
        unknown = [k for k in document if k not in keys]
        if unknown:
            return 400, f"unknown field; expected only {sorted(keys)}", unknown[0]
        return None

    @staticmethod
    async def _reply(
        scope: Scope, send: Send, status: int, message: str, field: str | None = None, *, close: bool = False
    ) -> None:
        await send_error(scope, send, status, message, field, close=close)


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    field: str | None = None,
    *,
    close: bool = False,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer with the service's error body, logged as one line with a request id."""
    request_id = uuid.uuid4().hex[:16]
    text = safe_text(message)
    logger.warning(
        "client error %d %s %s request_id=%s: %s",
        status,
        scope.get("method"),
        scope.get("path"),
        request_id,
        text,
    )
    extra = {"X-Request-Id": request_id, **(headers or {})}
    if close:
        extra["Connection"] = "close"
    response = JSONResponse(error_body(message, field=field), status_code=status, headers=extra)
    await response(scope, _no_receive, send)


def shape_errors(send: Send) -> Send:
    """`send` with every 4xx answer in the service's error body (BentoML's and Starlette's plain
    "Not Found", "Method Not Allowed", pydantic's lists), its status kept, and redirects made
    relative (no Host header reflected)."""
    held: dict[str, Any] = {}

    async def shaped(message: Message) -> None:
        if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
            held["start"], held["chunks"] = message, []
            return
        if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
            message = {
                **message,
                "headers": [_relative_location(k, v) for k, v in message.get("headers", [])],
            }
        if message["type"] != "http.response.body" or "start" not in held:
            await send(message)
            return
        held["chunks"].append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start = held.pop("start")
        body = error_document(start["status"], b"".join(held.pop("chunks")))
        drop = (b"content-length", b"content-type")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in drop]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return shaped


def _relative_location(key: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A redirect's Location without scheme and host: the Host header a client sent (Starlette's
    slash redirect builds an absolute URL from it) is never reflected back."""
    if key.lower() != b"location":
        return key, value
    parts = urlsplit(value.decode("latin-1"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return key, ("/" + path.lstrip("/")).encode("latin-1")


def error_document(status: int, body: bytes) -> bytes:
    """A 4xx body as `{"error", "row", "field"}` (unchanged when it already is one)."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        document = body.decode("utf-8", "replace").strip()
    if isinstance(document, dict) and set(document) == {"error", "row", "field"}:
        return body
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = document[0]
    if isinstance(document, dict):
        document = document.get("error") or document.get("detail") or json.dumps(document)
    message = str(document) or HTTPStatus(status).phrase
    return json.dumps(error_body(message)).encode()


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _until_disconnect(app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
    """Run the app on the read `body`; cancel it if the client disconnects before it answers.

    The app runs in this task. The client is watched only once the app has worked
    WATCH_AFTER_S: most answers come sooner, and a watcher costs a task and a `receive` (with
    BentoML's tracing span) on every request."""
    gone = asyncio.Event()
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    this = asyncio.current_task()
    assert this is not None
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                this.cancel()
                return

    def start_watching() -> None:
        nonlocal watcher
        watcher = asyncio.ensure_future(watch())

    timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, start_watching)
    try:
        await app(scope, replay, send)
    except asyncio.CancelledError:
        # ours when the client went away and nobody else cancelled this request (e.g. its
        # compute deadline): then it is done; else the cancellation goes on up
        if not gone.is_set() or this.uncancel() > 0:
            raise
        logger.info(
            "client of %s %s went away: its request was cancelled", scope.get("method"), scope.get("path")
        )
    else:
        if gone.is_set():  # the app took the cancellation and answered all the same
            this.uncancel()
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()  # not awaited: awaiting here could swallow this request's own cancellation
