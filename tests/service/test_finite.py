"""No NaN or Infinity in any response: rows whose values overflow the model's arithmetic are a
per-row error naming the cause while the other rows answer; a request of only such rows is a 400.
A property test over extreme finite inputs, through the real service (in process)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.service.service_client import serve_in_process

NUMERIC = {
    "logistic": [f"x{j}" for j in range(8)],
    "svc": [f"f{j}" for j in range(6)],
    "regression": [f"r{j}" for j in range(5)],
}
FMAX = sys.float_info.max


def strict(text: str) -> Any:
    """JSON that fails on NaN / Infinity literals, as a strict client's parser does."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"the response carries {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module", params=sorted(NUMERIC))
def client(request: pytest.FixtureRequest, stored: Callable[[str], str]) -> Iterator[tuple[str, TestClient]]:
    with serve_in_process(stored(request.param)) as c:
        yield request.param, c


def test_an_overflowing_row_is_its_own_error_and_the_others_answer(client: tuple[str, TestClient]) -> None:
    name, c = client
    huge = {f: FMAX for f in NUMERIC[name]}
    fine = {f: 0.1 for f in NUMERIC[name]}
    r = c.post("/predict", json={"rows": [fine, huge, fine]})
    body = strict(r.text)
    if r.status_code == 200 and "errors" in body:
        assert [e["row"] for e in body["errors"]] == [1] and "overflow" in body["errors"][0]["error"]
        assert body["predictions"][1] is None and body["predictions"][0] is not None
        assert {item["row"] for item in body["explanations"]} == {0, 2}
    else:  # the model took the huge values in its stride: a full, finite answer
        assert r.status_code == 200 and len(body["predictions"]) == 3
    alone = c.post("/predict", json={"rows": [huge]})
    alone_body = strict(alone.text)
    if "errors" in body:
        assert alone.status_code == 400 and alone_body["row"] == 0 and "overflow" in alone_body["error"]


extreme = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([FMAX, -FMAX, FMAX / 2, 1e308, -1e300, 5e-324, 0.0]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_response_carries_a_non_finite_number(client: tuple[str, TestClient], data: st.DataObject) -> None:
    name, c = client
    n = data.draw(st.integers(1, 3))
    rows = [{f: data.draw(extreme) for f in NUMERIC[name]} for _ in range(n)]
    r = c.post("/predict", json={"rows": rows, "target": "all"})
    assert r.status_code in (200, 400), r.text[:500]
    body = strict(r.text)
    if r.status_code == 200:
        answered = {item["row"] for item in body["explanations"]}
        failed = {e["row"] for e in body.get("errors") or []}
        assert answered | failed == set(range(n)) and not answered & failed
        for item in body["explanations"]:
            numbers = [
                item["base_value"],
                item["output"],
                item["residual"],
                *(a["value"] for a in item["attributions"]),
            ]
            assert all(math.isfinite(v) for v in numbers)


def test_an_echoed_value_is_cut(client: tuple[str, TestClient]) -> None:
    name, c = client
    row = {f: 0.1 for f in NUMERIC[name]}
    row[NUMERIC[name][0]] = "a" * 1_500_000
    r = c.post("/predict", json={"rows": [row]})
    assert r.status_code == 400 and r.json()["field"] == NUMERIC[name][0]
    assert len(r.content) < 2_000 and "more characters" in r.json()["error"]
