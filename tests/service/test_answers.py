"""The served answers to a fixed set of requests, for every explainer method, are bit for bit the
ones recorded in answers.json (written by `python -m tests.service.answers --write` from the code
of the time): a change of the request path (one model pass, ndarray inputs, threads) must not move
a single answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.service.answers import FIXTURE, answers, differences


@pytest.mark.slow
def test_answers_are_those_recorded(model_store: Path) -> None:
    expected = json.loads(FIXTURE.read_text())
    found = answers()
    assert set(found) == set(expected)
    diff = differences(expected, found)
    assert not diff, f"{len(diff)} differences, first: " + "\n".join(diff[:10])
