"""to_openapi30 turns JSON Schema 2020-12 constructs (what pydantic writes) into OpenAPI 3.0's."""

from __future__ import annotations

from typing import Any

import jsonschema
from schemathesis.specs.openapi.definitions import OPENAPI_30

from scoring.schema import Feature, Kind
from service.openapi import feature_schema, to_openapi30


def document(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.2",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": {"S": schema}},
    }


def errors(doc: dict[str, Any]) -> list[str]:
    return [e.message for e in jsonschema.Draft4Validator(OPENAPI_30).iter_errors(doc)]


RAW = {
    "type": "object",
    "properties": {
        "a": {"type": ["integer", "null"], "minimum": 0, "default": None},
        "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "c": {"type": ["string", "integer"], "enum": ["x", 1]},
        "d": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "e": {"const": "only"},
        "f": {"anyOf": [{"$ref": "#/components/schemas/S"}, {"type": "null"}]},
        "g": {"type": ["string", "null"], "enum": ["raw", None]},
    },
}


def test_2020_constructs_become_valid_openapi_30() -> None:
    assert errors(document(RAW))  # as pydantic writes them: not OpenAPI 3.0
    out = to_openapi30(RAW)["properties"]
    assert errors(document(to_openapi30(RAW))) == []
    assert out["a"] == {"type": "integer", "minimum": 0, "default": None, "nullable": True}
    assert out["b"] == {"type": "string", "nullable": True}
    assert out["d"]["minimum"] == 0 and out["d"]["exclusiveMinimum"] is True and out["d"]["nullable"] is True
    assert out["e"] == {"enum": ["only"]}
    assert out["f"] == {"allOf": [{"$ref": "#/components/schemas/S"}], "nullable": True}
    assert out["g"]["enum"] == ["raw"] and out["g"]["nullable"] is True
    assert {o["type"] for o in out["c"]["anyOf"]} == {"string", "integer"}


def test_feature_schemas_say_what_is_accepted() -> None:
    number = feature_schema(Feature("x", Kind.NUMBER, "float64", nullable=True, minimum=0.0, maximum=2.0))
    assert number["type"] == "number" and number["nullable"] and number["maximum"] < 3.5e38
    category = feature_schema(Feature("c", Kind.CATEGORY, "object", categories=("a", "b")))
    assert category == {"type": "string", "enum": ["a", "b"]}
    open_category = feature_schema(
        Feature("c", Kind.CATEGORY, "object", categories=("a",), accepts_unseen=True)
    )
    assert open_category == {"type": "string"}
    assert errors(document({"type": "object", "properties": {"x": number, "c": category}})) == []
