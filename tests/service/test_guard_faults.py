"""The request guard under attack and faults, driven through its ASGI interface: bodies that
stall, clients that go away, too many requests, smuggling headers, text that cannot be echoed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from service.limits import MAX_MESSAGE_CHARS, WATCH_AFTER_S, RequestGuard, safe_text

ROUTES = {"/predict": ["rows"]}


def scope(headers: dict[str, str] | None = None, path: str = "/predict", method: str = "POST") -> Scope:
    items = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": method, "path": path, "headers": items}


class Recorder:
    """The `send` side: the status, headers and body the guard (or the app) answered."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.messages if m["type"] == "http.response.start"), None)

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}

    def json(self) -> Any:
        return json.loads(
            b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")
        )


def chunks(
    *parts: bytes, then: Callable[[], Any] | None = None, complete: bool = True
) -> tuple[Receive, list[int]]:
    """A receive giving `parts` (the last one ends the body unless not `complete`), then waiting
    forever (or for `then`)."""
    given = [0]

    async def receive() -> Message:
        if given[0] < len(parts):
            given[0] += 1
            return {
                "type": "http.request",
                "body": parts[given[0] - 1],
                "more_body": given[0] < len(parts) or not complete,
            }
        if then is not None:
            return await then()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive, given


class App:
    """The app behind the guard: records calls, answers 200 unless told to wait."""

    def __init__(self, wait: asyncio.Event | None = None):
        self.calls = 0
        self.cancelled = 0
        self.finished = 0
        self.wait = wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = await receive()
        try:
            if self.wait is not None:
                await self.wait.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body["body"]})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_stalled_body_is_a_408_at_its_deadline_and_never_reaches_the_app() -> None:
    app = App()
    guard = RequestGuard(app, max_body_bytes=10_000, routes=ROUTES, body_timeout_s=0.2, body_seconds_per_mb=0)
    receive, _ = chunks(b'{"rows": [', complete=False)
    sent = Recorder()

    async def go() -> None:
        await asyncio.wait_for(guard(scope({"content-length": "100"}), receive, sent), 5)

    run(go())
    assert sent.status == 408 and sent.headers["connection"] == "close" and app.calls == 0
    assert guard.in_flight == 0


def test_the_deadline_grows_with_the_declared_size() -> None:
    guard = RequestGuard(App(), max_body_bytes=10, routes=ROUTES, body_timeout_s=3, body_seconds_per_mb=2)
    assert guard.deadline_s(0) == 3 and guard.deadline_s(5 * 1024 * 1024) == 13


def test_a_client_that_goes_away_has_its_work_cancelled() -> None:
    gone = asyncio.Event()

    async def disconnect() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def go() -> tuple[App, RequestGuard, Recorder]:
        app = App(wait=asyncio.Event())  # the app would wait forever for its result
        guard = RequestGuard(app, max_body_bytes=1000, routes=ROUTES)
        receive, _ = chunks(b'{"rows": []}', then=disconnect)
        sent = Recorder()
        task = asyncio.ensure_future(guard(scope(), receive, sent))
        await asyncio.sleep(0.05)
        assert guard.in_flight == 1
        gone.set()
        await asyncio.wait_for(task, 2)
        return app, guard, sent

    app, guard, sent = run(go())
    assert app.calls == 1 and app.cancelled == 1 and app.finished == 0
    assert guard.in_flight == 0 and sent.status is None


def test_a_quick_answer_never_listens_for_the_client() -> None:
    """The watcher starts only after WATCH_AFTER_S: an app that answers at once has its body
    received once, and nothing is left waiting on the connection."""
    release = asyncio.Event()
    app = App(wait=release)  # answers after a millisecond: well within WATCH_AFTER_S
    guard = RequestGuard(app, max_body_bytes=1000, routes=ROUTES)
    calls = [0]

    async def receive() -> Message:
        calls[0] += 1
        if calls[0] == 1:
            return {"type": "http.request", "body": b'{"rows": []}', "more_body": False}
        await asyncio.Event().wait()  # the connection stays open
        raise AssertionError("unreachable")

    sent = Recorder()

    async def go() -> set[asyncio.Task[Any]]:
        asyncio.get_running_loop().call_later(0.001, release.set)
        await guard(scope(), receive, sent)
        await asyncio.sleep(2 * WATCH_AFTER_S)  # a watcher started late would be waiting now
        return asyncio.all_tasks() - {asyncio.current_task()}

    left = run(go())
    assert sent.status == 200 and app.finished == 1 and calls[0] == 1 and not left


def test_slots_are_counted_after_the_body_and_readiness_says_when_they_are_full() -> None:
    async def go() -> tuple[Recorder, Recorder, Recorder, Recorder]:
        release = asyncio.Event()
        app = App(wait=release)
        guard = RequestGuard(app, max_body_bytes=1000, routes=ROUTES, max_in_flight=2)
        stalled = [
            asyncio.ensure_future(guard(scope(), chunks(b"{", complete=False)[0], Recorder()))
            for _ in range(5)
        ]
        working = [asyncio.ensure_future(guard(scope(), chunks(b"{}")[0], Recorder())) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert guard.in_flight == 2  # the five stalled uploads hold none
        refused, not_ready = Recorder(), Recorder()
        await guard(scope(), chunks(b"{}")[0], refused)
        await guard(scope(method="GET", path="/readyz"), chunks()[0], not_ready)
        release.set()
        await asyncio.gather(*working)
        ready = Recorder()

        async def health(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        guard.app = health
        await guard(scope(method="GET", path="/readyz"), chunks()[0], ready)
        ok = Recorder()
        guard.app = App()
        await guard(scope(), chunks(b"{}")[0], ok)
        for task in stalled:
            task.cancel()
        return refused, not_ready, ready, ok

    refused, not_ready, ready, ok = run(go())
    assert refused.status == 429 and "slots" in refused.json()["error"]
    assert not_ready.status == 503 and ready.status == 200 and ok.status == 200


def test_an_oversized_body_is_read_and_dropped_before_the_413() -> None:
    app = App()
    guard = RequestGuard(app, max_body_bytes=100, routes=ROUTES, max_discard_bytes=10_000)
    receive, given = chunks(b"x" * 100, b"x" * 100, b"x" * 100)
    sent = Recorder()
    run(guard(scope({"content-length": "300"}), receive, sent))
    assert sent.status == 413 and given[0] == 3 and app.calls == 0
    assert "100 bytes" in sent.json()["error"]


def test_expect_100_continue_gets_the_413_before_any_body() -> None:
    guard = RequestGuard(App(), max_body_bytes=100, routes=ROUTES)
    receive, given = chunks(b"x" * 300)
    sent = Recorder()
    run(guard(scope({"content-length": "300", "expect": "100-continue"}), receive, sent))
    assert sent.status == 413 and given[0] == 0


def test_content_length_with_transfer_encoding_is_a_400_and_closes() -> None:
    app = App()
    guard = RequestGuard(app, max_body_bytes=1000, routes=ROUTES)
    sent = Recorder()
    headers = {"content-length": "12", "transfer-encoding": "chunked"}
    run(guard(scope(headers), chunks(b'{"rows": []}')[0], sent))
    assert sent.status == 400 and sent.headers["connection"] == "close" and app.calls == 0
    assert "Transfer-Encoding" in sent.json()["error"]


def test_a_lone_surrogate_key_is_a_400_naming_it() -> None:
    guard = RequestGuard(App(), max_body_bytes=1000, routes=ROUTES)
    sent = Recorder()
    run(guard(scope(), chunks(b'{"rows": [], "\\ud800x": 1}')[0], sent))
    assert sent.status == 400 and sent.json()["field"] == "\\ud800x"
    assert sent.headers["x-request-id"]


def test_echoed_text_is_cut() -> None:
    long = "a" * 1_500_000
    assert len(safe_text(long)) < MAX_MESSAGE_CHARS + 50
    guard = RequestGuard(App(), max_body_bytes=10_000_000, routes=ROUTES)
    sent = Recorder()
    run(guard(scope(), chunks(json.dumps({"rows": [], long: 1}).encode())[0], sent))
    assert sent.status == 400 and len(sent.json()["field"]) < 300


def test_client_errors_are_one_log_line_with_a_request_id(caplog: pytest.LogCaptureFixture) -> None:
    guard = RequestGuard(App(), max_body_bytes=1000, routes=ROUTES)
    sent = Recorder()
    with caplog.at_level("WARNING", logger="bentoml.service.explained_model.requests"):
        run(guard(scope(), chunks(b"{nope")[0], sent))
    records = [r for r in caplog.records if r.name.endswith(".requests")]
    assert len(records) == 1 and records[0].exc_info is None
    assert sent.headers["x-request-id"] in records[0].getMessage()


def test_every_4xx_gets_the_one_error_body() -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        status = {"/nope": 404, "/list": 400}.get(scope["path"], 405)
        body = b'[{"error": "bad thing"}]' if scope["path"] == "/list" else b"Not Found"
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": body})

    guard = RequestGuard(plain, max_body_bytes=1000, routes=ROUTES)
    answers = {}
    for path in ("/nope", "/list", "/other"):
        sent = Recorder()
        run(guard(scope(path=path, method="GET"), chunks()[0], sent))
        answers[path] = (sent.status, sent.headers["content-type"], sent.json())
    assert answers["/nope"] == (404, "application/json", {"error": "Not Found", "row": None, "field": None})
    assert answers["/list"][2] == {"error": "bad thing", "row": None, "field": None}
    assert answers["/other"][0] == 405 and set(answers["/other"][2]) == {"error", "row", "field"}


def test_a_redirect_never_reflects_the_host_header() -> None:
    async def slash(scope: Scope, receive: Receive, send: Send) -> None:
        location = b"http://evil.example/dashboard/?a=1"
        await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location)]})
        await send({"type": "http.response.body", "body": b""})

    sent = Recorder()
    run(
        RequestGuard(slash, max_body_bytes=10, routes=ROUTES)(
            scope(path="/dashboard", method="GET"), chunks()[0], sent
        )
    )
    assert sent.status == 307 and sent.headers["location"] == "/dashboard/?a=1"
