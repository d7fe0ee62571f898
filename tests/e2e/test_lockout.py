"""No lockout, and a real answer for every client, against a real `bentoml serve`: 300 stalled
uploads do not stop a well-behaved client; 300 connections that stall in their headers are
answered 408 and closed at the header deadline while a well-behaved client gets 200s; an
abandoned large request is not computed; urllib reads the 413; Content-Length with
Transfer-Encoding is a 400 that closes the connection."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.server import Server, serve, store_bundle_in
from tests.service.bundles import rows_of, svc_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STALLED = 300
PART_ROWS = 10
HEADER_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[dict[str, Any]]]]:
    home = tmp_path_factory.mktemp("lockout_home")
    bundle = svc_bundle()  # kernel explainer: a 1,000-row request takes a while
    tag, _ = store_bundle_in(home, "lockout_svc", bundle)
    env = {
        "BATCH_MAX_ROWS": str(PART_ROWS),
        "BODY_TIMEOUT_S": "20",
        "HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    }
    rows = rows_of(__import__("pandas").DataFrame([[0.1 * j for j in range(6)]], columns=bundle.schema.names))
    with serve(home, tag, env=env) as server:
        yield server, rows


def address(server: Server) -> tuple[str, int]:
    url = urlparse(server.url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


def batch_rows(server: Server) -> float:
    """Rows predicted and explained so far (the explained_model_batch_rows histogram's sum)."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("explained_model_batch_rows_sum"):
            return float(line.split()[-1])
    return 0.0


def raw_request(body: bytes, *, length: int | None = None, extra: str = "") -> bytes:
    declared = len(body) if length is None else length
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n{extra}\r\n"
    )
    return head.encode() + body


def test_stalled_uploads_do_not_lock_out_a_good_client(served: tuple[Server, list[dict[str, Any]]]) -> None:
    server, rows = served
    stalled: list[socket.socket] = []
    try:
        for _ in range(STALLED):
            s = socket.create_connection(address(server), timeout=10)
            s.sendall(raw_request(b'{"rows": [', length=100_000))  # headers, then a stall
            stalled.append(s)
        time.sleep(0.5)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            statuses = [client.post("/predict", json={"rows": rows}).status_code for _ in range(20)]
            ready = client.get("/readyz").status_code
    finally:
        for s in stalled:
            s.close()
    assert statuses == [200] * 20 and ready == 200


def closed_after(s: socket.socket, opened: float, until: float) -> tuple[float | None, bytes]:
    """(seconds from `opened` to the server closing `s`, or None if it was open at `until`;
    what the server sent)."""
    answer = b""
    while (left := until - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            break
        except ConnectionError:
            return time.monotonic() - opened, answer
        if not chunk:
            return time.monotonic() - opened, answer
        answer += chunk
    return None, answer


def read_response(s: socket.socket) -> bytes:
    """One whole HTTP/1.1 response with a Content-Length from `s`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    lengths = [
        line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    while len(body) < int(lengths[0]):
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def test_stalled_headers_are_answered_408_and_closed(served: tuple[Server, list[dict[str, Any]]]) -> None:
    server, rows = served
    partial = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"  # and then nothing
    stalled: list[tuple[socket.socket, float, bool]] = []  # (socket, opened, sent part of a request)
    try:
        for i in range(STALLED):
            s = socket.create_connection(address(server), timeout=10)
            sends = i % 10 != 0  # one in ten only connects
            if sends:
                s.sendall(partial[: 20 + i % 40])
            stalled.append((s, time.monotonic(), sends))
        with httpx.Client(base_url=server.url, timeout=30) as client:
            statuses = [client.post("/predict", json={"rows": rows}).status_code for _ in range(20)]
            # a kept-alive connection that stalls in its next request's headers is dropped too
            kept = socket.create_connection(address(server), timeout=10)
            kept.sendall(raw_request(json.dumps({"rows": rows}).encode()))
            first = read_response(kept)
            kept.sendall(partial)
            kept_opened = time.monotonic()
        until = time.monotonic() + HEADER_TIMEOUT_S + 20
        outcomes = [(closed_after(s, opened, until), sends) for s, opened, sends in stalled]
        kept_closed, kept_answer = closed_after(kept, kept_opened, until)
    finally:
        for s, _, _ in stalled:
            s.close()
        kept.close()
    assert statuses == [200] * 20 and first.startswith(b"HTTP/1.1 200")
    still_open = sum(seconds is None for (seconds, _), _ in outcomes)
    assert still_open == 0, f"{still_open} of {STALLED} stalled connections were still open"
    lags = [seconds for (seconds, _), _ in outcomes if seconds is not None]
    assert min(lags) >= HEADER_TIMEOUT_S * 0.9, "a stalled connection was closed before its deadline"
    answers = [answer.split(b"\r\n", 1)[0] for (_, answer), sends in outcomes if sends]
    assert set(answers) == {b"HTTP/1.1 408 Request Timeout"}
    assert all(answer == b"" for (_, answer), sends in outcomes if not sends)  # closed, nothing sent
    assert kept_closed is not None and kept_answer.startswith(b"HTTP/1.1 408")
    assert json.loads(kept_answer.split(b"\r\n\r\n", 1)[1])["error"].startswith("the request headers")


def test_an_abandoned_large_request_is_not_computed(served: tuple[Server, list[dict[str, Any]]]) -> None:
    server, rows = served
    body = json.dumps({"rows": rows * 1000}).encode()
    busy_done = threading.Event()

    def busy() -> None:  # keeps the worker busy so the abandoned request's parts queue
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                server.url + "/predict",
                content=body,
                headers={"content-type": "application/json"},
                timeout=120,
            )
        busy_done.set()

    before = batch_rows(server)
    thread = threading.Thread(target=busy)
    thread.start()
    time.sleep(0.3)
    s = socket.create_connection(address(server), timeout=10)
    s.sendall(raw_request(body))
    time.sleep(0.2)
    s.close()  # the client goes away before its answer
    thread.join(timeout=120)
    assert busy_done.is_set()
    time.sleep(1.0)
    abandoned = batch_rows(server) - before - 1000
    assert abandoned <= 2 * PART_ROWS, f"{abandoned:.0f} of the abandoned request's 1000 rows were computed"


def test_urllib_reads_the_413(served: tuple[Server, list[dict[str, Any]]]) -> None:
    server, _ = served
    body = b'{"rows": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    request = urllib.request.Request(
        server.url + "/predict", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413
    assert "limit" in json.loads(caught.value.read())["error"]


def test_content_length_with_transfer_encoding_is_refused(
    served: tuple[Server, list[dict[str, Any]]],
) -> None:
    server, rows = served
    body = json.dumps({"rows": rows}).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with socket.create_connection(address(server), timeout=10) as s:
        s.sendall(raw_request(chunked, length=len(body), extra="Transfer-Encoding: chunked\r\n"))
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := s.recv(65536):
                answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 400"), answer[:300]
