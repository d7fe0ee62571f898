"""The compute deadline (service.deadlines.ComputeDeadline) keeps BentoML's `traffic.timeout`
contract, a 504 for a request that has not begun its answer in time, without keeping anything of
a request once it is answered; BentoML's own middleware keeps each request's context for the
whole timeout. The header deadline is tested against a real server (tests/e2e/test_lockout.py)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from service.deadlines import ComputeDeadline, install_compute_deadline, install_header_deadline
from service.limits import RequestGuard
from tests.service.service_client import serve_in_process

REQUESTS = 300
request_state: contextvars.ContextVar[object] = contextvars.ContextVar("request_state")


class State:
    """Something a request puts in its context (BentoML's tracing span, its request id)."""


def answering_app(*, start_after_s: float = 0.0, body_after_s: float = 0.0) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(start_after_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(body_after_s)
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def with_request_state(app: Any, alive: weakref.WeakSet[State]) -> Any:
    """An outer layer that puts a State in the request's context, as BentoML's tracing
    middleware (outside its timeout middleware) puts the request's span there."""

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        state = State()
        alive.add(state)
        request_state.set(state)
        await app(scope, receive, send)

    return outer


async def call(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    received = []

    async def receive() -> dict[str, Any]:
        if received:  # like a server: after the body, nothing until the client goes
            await asyncio.Event().wait()
        received.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.create_task(app({"type": "http", "method": "POST", "path": "/predict"}, receive, send))
    return sent


def contexts_kept(deadline: Callable[[Any], Any]) -> int:
    """Request states still alive after REQUESTS answered requests through `deadline(app)`."""
    alive: weakref.WeakSet[State] = weakref.WeakSet()
    app = with_request_state(deadline(answering_app()), alive)

    async def run() -> int:
        for _ in range(REQUESTS):
            assert (await call(app))[0]["status"] == 200
        gc.collect()
        return len(alive)

    return asyncio.run(run())


def test_nothing_of_an_answered_request_outlives_it() -> None:
    assert contexts_kept(lambda app: ComputeDeadline(app, timeout=60)) < 0.5 * REQUESTS


def test_bentoml_s_own_timeout_keeps_every_request_s_context() -> None:
    """The cause ComputeDeadline removes (when this fails, BentoML no longer keeps them and
    install_compute_deadline can go)."""
    bentoml_timeout = install_compute_deadline()
    assert bentoml_timeout is not ComputeDeadline
    assert contexts_kept(lambda app: bentoml_timeout(app, timeout=60)) == REQUESTS


def test_a_request_not_answering_in_time_gets_a_504() -> None:
    sent = asyncio.run(call(ComputeDeadline(answering_app(start_after_s=5.0), timeout=0.2)))
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [504]
    assert "0.2 s" in json.loads(sent[-1]["body"])["error"]


def test_an_answer_that_has_begun_is_not_cut_off() -> None:
    sent = asyncio.run(call(ComputeDeadline(answering_app(body_after_s=0.4), timeout=0.2)))
    assert sent[0]["status"] == 200 and sent[-1]["body"] == b"ok"


def test_work_behind_the_request_guard_is_cancelled_at_the_deadline() -> None:
    """As served: the deadline outside RequestGuard, which runs the endpoint in a task of its own."""
    events: list[str] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        try:
            await asyncio.sleep(3)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("computed")

    guard = RequestGuard(endpoint, max_body_bytes=1000, routes={"/predict": ["rows"]})

    async def run() -> tuple[list[dict[str, Any]], list[str]]:
        sent = await call(ComputeDeadline(guard, timeout=0.2))
        await asyncio.sleep(0.1)
        return sent, list(events)  # before asyncio.run cancels whatever is left

    sent, seen = asyncio.run(run())
    assert sent[0]["status"] == 504 and seen == ["cancelled"]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        ComputeDeadline(answering_app(), timeout=0)
    with pytest.raises(ValueError, match="header_timeout_s"):
        install_header_deadline(0)


def test_the_served_app_is_built_with_the_compute_deadline(stored: Callable[[str], str]) -> None:
    with serve_in_process(stored("mixed")) as client:
        layers = [m.cls for m in client.app.user_middleware]  # type: ignore[attr-defined]
        assert ComputeDeadline in layers
        assert client.post("/metadata", json={}).status_code == 200
