"""Request checks as plain functions: options, rows and targets, each failure naming its field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.bundle import Bundle
from scoring.errors import ValidationError
from scoring.explanation import Level
from service.outputs import Outputs
from service.requests import Target, TargetKind, parse_options, parse_predict, parse_target
from tests.service.bundles import mixed_bundle, mixed_frame, rows_of, svc_bundle


@pytest.fixture(scope="module")
def mixed() -> Bundle:
    return mixed_bundle()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return rows_of(mixed_frame(n=5, seed=3)[0])


def options(bundle: Bundle, **given: Any) -> Any:
    return parse_options(
        bundle, **{"explain": True, "top_k": None, "level": "raw", "target": "predicted", **given}
    )


def test_defaults(mixed: Bundle, rows: list) -> None:
    checked = parse_predict(mixed, rows=rows, max_rows=10)
    assert list(checked.frame.columns) == ["size", "weight", "count", "color"]
    assert len(checked.frame) == 5
    assert checked.options.explain and checked.options.top_k is None
    assert checked.options.level is Level.RAW
    assert checked.options.target == Target(TargetKind.PREDICTED)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("predicted", Target(TargetKind.PREDICTED)),
        ("all", Target(TargetKind.ALL)),
        ("low", Target(TargetKind.OUTPUT, 0)),
        ("high", Target(TargetKind.OUTPUT, 2)),
        (1, Target(TargetKind.OUTPUT, 1)),  # a raw class label
        ("2", Target(TargetKind.OUTPUT, 2)),  # a raw label as text
    ],
)
def test_targets(mixed: Bundle, target: Any, expected: Target) -> None:
    assert parse_target(mixed, target) == expected


@pytest.mark.parametrize("target", ["purple", 3, 1.0, True, None, [1], {"a": 1}, ""])
def test_bad_targets(mixed: Bundle, target: Any) -> None:
    with pytest.raises(ValidationError) as e:
        parse_target(mixed, target)
    assert e.value.field == "target"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"explain": None}, "explain"),
        ({"explain": "true"}, "explain"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.0}, "top_k"),
        ({"top_k": False}, "top_k"),
        ({"level": "Raw"}, "level"),
        ({"level": 1}, "level"),
    ],
)
def test_bad_options(mixed: Bundle, given: dict, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        options(mixed, **given)
    assert e.value.field == field and e.value.row is None


@pytest.mark.parametrize("rows", [None, "abc", {"size": 1}, 3, b"[]"])
def test_rows_must_be_a_list(mixed: Bundle, rows: Any) -> None:
    with pytest.raises(ValidationError) as e:
        parse_predict(mixed, rows=rows, max_rows=10)
    assert e.value.field == "rows"


def test_row_limit(mixed: Bundle, rows: list) -> None:
    parse_predict(mixed, rows=rows, max_rows=5)
    with pytest.raises(ValidationError) as e:
        parse_predict(mixed, rows=rows, max_rows=4)
    assert e.value.field == "rows" and "at most 4" in str(e.value)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_missing_or_extra_feature_is_named(mixed: Bundle, rows: list, data: st.DataObject) -> None:
    """A missing non-nullable feature or an unknown one is named (an omitted nullable feature is
    a missing value: see test_an_omitted_nullable_feature_is_a_missing_value)."""
    i = data.draw(st.integers(0, len(rows) - 1), label="row")
    row = dict(rows[i])
    required = sorted(f.name for f in mixed.schema.features if not f.nullable)
    if data.draw(st.booleans(), label="drop"):
        name = data.draw(st.sampled_from(required), label="feature")
        del row[name]
    else:
        name = data.draw(st.text(min_size=1, max_size=8).filter(lambda s: s not in row), label="extra")
        row[name] = data.draw(st.one_of(st.none(), st.floats(), st.text(max_size=3)), label="value")
    bad = [*rows[:i], row, *rows[i + 1 :]]
    with pytest.raises(ValidationError) as e:
        parse_predict(mixed, rows=bad, max_rows=10)
    assert (e.value.row, e.value.field) == (i, name)


def test_an_omitted_nullable_feature_is_a_missing_value(mixed: Bundle, rows: list) -> None:
    nullable = [f.name for f in mixed.schema.features if f.nullable]
    assert nullable, "the mixed bundle imputes a column"
    row = {k: v for k, v in rows[0].items() if k != nullable[0]}
    checked = parse_predict(mixed, rows=[row, rows[1]], max_rows=10)
    assert checked.frame[nullable[0]].isna().tolist() == [True, False]


def test_outputs_map_predictions_to_class_names() -> None:
    outputs = Outputs.of(svc_bundle())
    assert outputs.names == ("no", "yes") and outputs.labels == (0, 1)
    assert outputs.classes(np.array([1, 0, 1])) == ["yes", "no", "yes"]
    assert outputs.find("yes") == 1 and outputs.find(0) == 0 and outputs.find("0") == 0
    assert outputs.find(False) is None and outputs.find("maybe") is None


@pytest.mark.parametrize(("field", "value"), [("size", 10**400), ("size", -(10**309)), ("count", 2**63)])
def test_integers_too_large_for_their_column_are_named(
    mixed: Bundle, rows: list, field: str, value: int
) -> None:
    bad = [rows[0], {**rows[1], field: value}]
    with pytest.raises(ValidationError) as e:
        parse_predict(mixed, rows=bad, max_rows=10)
    assert (e.value.row, e.value.field) == (1, field)


def test_large_integers_that_fit_are_taken(mixed: Bundle, rows: list) -> None:
    checked = parse_predict(mixed, rows=[{**rows[0], "size": 10**300, "count": 2**62}], max_rows=10)
    assert checked.frame.loc[0, "count"] == 2**62
