"""A bounded load test: thousands of requests, 16 at a time, a fifth of them malformed, against a
real server on a fast bundle (logistic regression, exact linear explainer).

Zero 5xx; every good answer equals the Python API's; every bad one is a 4xx naming its field;
the server's memory after the run is close to what it was after a warm-up."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from scoring.bundle import Bundle, load_bundle
from scoring.explanation import Level
from tests.e2e.server import Server, serve, store_bundle_in
from tests.service.bundles import logistic_bundle, rows_of

pytestmark = pytest.mark.e2e

CONCURRENCY = 16
WARMUP = 300
REQUESTS = 2000
BAD_SHARE = 0.2
MAX_ROWS = 50
MAX_BODY = 64 * 1024
# allowed RSS growth of the server's process tree from after the warm-up to the end
RSS_MARGIN = 40 * 1024 * 1024


@dataclass(frozen=True)
class Call:
    content: bytes
    status: int
    field: str | None = None
    rows: tuple[int, ...] = ()  # indices into the pool, for good calls


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Bundle]]:
    home = tmp_path_factory.mktemp("bentoml_home")
    tag, path = store_bundle_in(home, "load_logistic", logistic_bundle())
    env = {"MAX_ROWS": str(MAX_ROWS), "MAX_BODY_BYTES": str(MAX_BODY)}
    with serve(home, tag, env=env) as server:
        yield server, load_bundle(path)


def make_calls(pool: list[dict[str, Any]], n: int, seed: int) -> list[Call]:
    rng = np.random.default_rng(seed)
    names = list(pool[0])
    bad_makers = [
        lambda r: (json.dumps({"rows": [{**r, names[1]: "0.5"}]}), 400, names[1]),
        lambda r: (json.dumps({"rows": [r, {**r, "extra": 1.0}]}), 400, "extra"),
        lambda r: (json.dumps({"rows": [{k: v for k, v in r.items() if k != names[2]}]}), 400, names[2]),
        lambda r: (json.dumps({"rows": [{**r, names[3]: None}]}), 400, names[3]),
        lambda r: (
            json.dumps({"rows": [{**r, names[0]: 123456.5}]}).replace("123456.5", "NaN"),
            400,
            names[0],
        ),
        lambda r: (json.dumps({"rows": [r]})[:-3], 400, None),
        lambda r: (json.dumps({"rows": [r], "top_k": -2}), 400, "top_k"),
        lambda r: (json.dumps({"rows": [r], "target": "maybe"}), 400, "target"),
        lambda r: (json.dumps({"rows": []}), 400, "rows"),
        lambda r: (json.dumps({"rows": [r] * (MAX_ROWS + 1)}), 400, "rows"),
        lambda r: (json.dumps({"rows": [r] * 2000}), 413, None),
        lambda r: (json.dumps({"row": [r]}), 400, "row"),
    ]
    calls = []
    for j in range(n):
        if rng.random() < BAD_SHARE:
            content, status, field = bad_makers[j % len(bad_makers)](pool[int(rng.integers(len(pool)))])
            calls.append(Call(content.encode(), status, field))
        else:
            idx = tuple(int(i) for i in rng.integers(0, len(pool), size=int(rng.integers(1, 6))))
            calls.append(
                Call(json.dumps({"rows": [pool[i] for i in idx], "top_k": 3}).encode(), 200, rows=idx)
            )
    return calls


async def drive(url: str, calls: list[Call]) -> list[tuple[Call, int, Any, float]]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(call: Call) -> tuple[Call, int, Any, float]:
            async with semaphore:
                start = time.perf_counter()
                r = await client.post(
                    "/predict", content=call.content, headers={"content-type": "application/json"}
                )
                return call, r.status_code, r.json(), time.perf_counter() - start

        return await asyncio.gather(*(one(c) for c in calls))


def check(results: list[tuple[Call, int, Any, float]], expected: Any, bundle: Bundle) -> None:
    values, outputs, base, predicted, names = expected
    server_errors = [(c.content[:80], s) for c, s, _, _ in results if s >= 500]
    assert not server_errors, f"{len(server_errors)} answers were 5xx: {server_errors[:3]}"
    for call, status, body, _ in results:
        assert status == call.status, (call.content[:120], status, body)
        if status != 200:
            assert body["field"] == call.field, (call.content[:120], body)
            continue
        assert len(body["explanations"]) == len(call.rows)
        for item, i in zip(body["explanations"], call.rows, strict=True):
            k = predicted[i]
            assert item["target"] == names[k] and body["predictions"][item["row"]] == names[k]
            assert math.isclose(item["output"], outputs[i, k], rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(item["base_value"], base[k], rel_tol=1e-9, abs_tol=1e-12)
            total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
            assert math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)
            top = item["attributions"][:3]
            order = np.argsort(-np.abs(values[i, :, k]), kind="stable")[:3]
            assert [a["feature"] for a in top] == [bundle.explainer.feature_names_in_[j] for j in order]
            assert np.allclose([a["value"] for a in top], values[i, order, k], rtol=1e-9, atol=1e-12)


def test_bounded_load_with_malformed_requests(served: tuple[Server, Bundle]) -> None:
    server, bundle = served
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(400, 8)), columns=[f"x{j}" for j in range(8)])
    pool = rows_of(frame)
    explanation = bundle.explain(bundle.schema.validate(pool), Level.RAW)
    classes = list(bundle.model.classes_)
    predicted = np.array([classes.index(p) for p in bundle.predict(bundle.schema.validate(pool)).labels])
    expected = (
        explanation.values,
        explanation.outputs,
        explanation.base_values,
        predicted,
        explanation.output_names,
    )

    start = time.perf_counter()
    check(asyncio.run(drive(server.url, make_calls(pool, WARMUP, seed=1))), expected, bundle)
    rss_warm = server.rss()
    results = asyncio.run(drive(server.url, make_calls(pool, REQUESTS, seed=2)))
    elapsed = time.perf_counter() - start
    rss_end = server.rss()
    check(results, expected, bundle)

    bad = sum(c.status != 200 for c, *_ in results)
    assert bad > 0.1 * REQUESTS
    assert httpx.get(server.url + "/readyz").status_code == 200
    growth = rss_end - rss_warm
    print(
        f"\n{REQUESTS + WARMUP} requests ({bad} malformed in the measured run) in {elapsed:.1f} s; "
        f"RSS {rss_warm / 2**20:.0f} MiB after warm-up, {rss_end / 2**20:.0f} MiB at the end"
    )
    assert growth < RSS_MARGIN, f"server RSS grew by {growth / 2**20:.0f} MiB"
    assert elapsed < 90
