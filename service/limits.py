"""An ASGI middleware guarding the JSON API routes before BentoML parses a body.

For a POST to one of `routes` it answers, itself and with the service's error body:
413 for a body over `max_body_bytes` (by Content-Length, or counted as it streams in),
415 for a media type other than JSON, and 400 for a body that is not a JSON object or has keys
the route does not take. Anything else passes through unchanged, with the body it has read
replayed to the app. Other paths and methods (health, metrics, docs) are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_TYPES = ("application/json",)


class BodyTooLarge(Exception):
    pass


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, routes: Mapping[str, Collection[str]]):
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = {path: frozenset(keys) for path, keys in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.routes:
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        problem = self._check_headers(headers)
        if problem is not None:
            await _reply(scope, receive, send, *problem)
            return
        try:
            body = await self._read(receive)
        except BodyTooLarge:
            await _reply(scope, receive, send, 413, self._too_large(), None)
            return
        problem = self._check_body(body, self.routes[scope["path"]])
        if problem is not None:
            await _reply(scope, receive, send, *problem)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_body_bytes} bytes"

    def _check_headers(self, headers: Mapping[str, str]) -> tuple[int, str, str | None] | None:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return 400, f"invalid Content-Length {length!r}", None
            if int(length) > self.max_body_bytes:
                return 413, self._too_large(), None
        media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media not in JSON_TYPES:
            return 415, f"expected Content-Type application/json, got {media!r}", None
        return None

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
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


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _reply(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, field: str | None
) -> None:
    response = JSONResponse({"error": message, "row": None, "field": field}, status_code=status)
    await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
