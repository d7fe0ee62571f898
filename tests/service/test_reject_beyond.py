"""REJECT_BEYOND_RANGE: values more than a stated multiple of the training range beyond it get a
400 naming the row and field, through the service in process; off by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.config import Settings
from tests.service.service_client import serve_in_process


@contextmanager
def serving(tag: str, multiple: float | None) -> Iterator[TestClient]:
    import service.service as served

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(served, "SETTINGS", replace(served.SETTINGS, reject_beyond_range=multiple))
        with serve_in_process(tag) as client:
            yield client


@pytest.fixture
def strict(stored: Callable[[str], str]) -> Iterator[TestClient]:
    # one app at a time: two in-process apps at once would register BentoML's metrics twice
    with serving(stored("mixed"), 1.0) as client:
        yield client


def _ranges(client: TestClient) -> dict[str, tuple[float, float]]:
    body = client.post("/metadata", json={}).json()
    return {
        f["name"]: (f["minimum"], f["maximum"])
        for f in body["schema"]["features"]
        if f.get("minimum") is not None
    }


def _row(**changes: Any) -> dict[str, Any]:
    return {"size": 10.0, "weight": 50.0, "count": 5, "color": "red", **changes}


def test_a_value_beyond_the_stated_multiple_is_a_400_naming_row_and_field(strict: TestClient) -> None:
    lo, hi = _ranges(strict)["size"]
    width = hi - lo
    just_outside = _row(size=hi + 0.9 * width)  # outside the range, within 1x of it: answered
    far = _row(size=hi + 1.1 * width)
    response = strict.post("/predict", json={"rows": [_row(), just_outside, far]})
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["row"] == 2 and error["field"] == "size", error
    below = strict.post("/predict", json={"rows": [_row(size=lo - 1.1 * width)]})
    assert below.status_code == 400 and below.json()["field"] == "size"


def test_values_within_the_multiple_and_missing_values_are_answered(strict: TestClient) -> None:
    ranges = _ranges(strict)
    lo, hi = ranges["size"]
    c_lo, c_hi = ranges["count"]
    rows = [
        _row(size=hi + 0.9 * (hi - lo)),
        _row(size=lo - 0.9 * (hi - lo)),
        _row(weight=None),
        _row(count=int(c_hi + 0.5 * (c_hi - c_lo))),
    ]
    response = strict.post("/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 4
    too_many = strict.post("/predict", json={"rows": [_row(count=int(c_hi + 2 * (c_hi - c_lo)))]})
    assert too_many.status_code == 400 and too_many.json()["field"] == "count"


def test_metadata_states_the_setting(strict: TestClient) -> None:
    validation = strict.post("/metadata", json={}).json()["validation"]
    assert validation["reject_beyond_range"] == 1.0
    assert "1x" in validation["rejects"]


def test_off_by_default_any_finite_value_is_answered(stored: Callable[[str], str]) -> None:
    assert Settings().reject_beyond_range is None
    with serving(stored("mixed"), None) as client:
        response = client.post("/predict", json={"rows": [_row(size=1e12)]})
        assert response.status_code == 200, response.text
        assert client.post("/metadata", json={}).json()["validation"]["reject_beyond_range"] is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("2.5", 2.5), ("", None), ("0", None)], ids=["multiple", "empty", "zero-off"]
)
def test_the_environment_variable(raw: str, expected: float | None) -> None:
    assert Settings.from_env({"REJECT_BEYOND_RANGE": raw}).reject_beyond_range == expected


@pytest.mark.parametrize("raw", ["-1", "inf", "two"])
def test_a_bad_setting_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)reject_beyond_range"):
        Settings.from_env({"REJECT_BEYOND_RANGE": raw})
