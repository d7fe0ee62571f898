"""The OpenAPI document that tells the truth: valid OpenAPI 3.0, and `/predict`'s rows described
by the served bundle's own schema (every feature, its type, whether it may be null or left out,
its categories), so a generated client or a fuzzer can form a valid request.

BentoML writes the document (`GET /docs.json`) from the request types, in JSON Schema 2020-12
terms (`"type": [..]`, `{"type": "null"}`, `const`, numeric `exclusiveMinimum`) that OpenAPI
3.0 does not have. `OpenAPITruth`, an ASGI middleware, rewrites that answer: `to_openapi30`
turns those constructs into 3.0's (`nullable`, `enum`, boolean `exclusiveMinimum`), and
`describe_rows` puts the bundle's features and levels and outputs in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoring.finite import FLOAT32_MAX  # numbers beyond it are refused (service.finite)
from scoring.schema import Feature, Kind, Schema

DOC_PATHS = frozenset({"/docs.json"})
INT64 = (-(2**63), 2**63 - 1)


def to_openapi30(node: Any) -> Any:
    """`node` (a JSON Schema or a whole document) with 2020-12 constructs as OpenAPI 3.0's."""
    if isinstance(node, list):
        return [to_openapi30(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_openapi30(v) for k, v in node.items()}
    kind = out.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        nullable = len(types) < len(kind)
        out.pop("type")
        if len(types) == 1:
            out["type"] = types[0]
        elif types:
            specific = {k: v for k, v in out.items() if k not in ("description", "default", "title")}
            for key in specific:
                out.pop(key)
            out["anyOf"] = [{"type": t, **_for_type(t, specific)} for t in types]
        if nullable:
            out["nullable"] = True
    for key in ("anyOf", "oneOf"):
        if key in out:
            options = [o for o in out[key] if o != {"type": "null"}]
            if len(options) < len(out[key]):
                out["nullable"] = True
            if len(options) == 1 and "$ref" not in options[0]:
                out.pop(key)
                out.update({k: v for k, v in options[0].items() if k not in out})
            elif len(options) == 1:
                out.pop(key)
                out["allOf"] = options
            else:
                out[key] = options
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("exclusiveMinimum"), (int, float)) and not isinstance(
        out["exclusiveMinimum"], bool
    ):
        out["minimum"], out["exclusiveMinimum"] = out["exclusiveMinimum"], True
    if isinstance(out.get("exclusiveMaximum"), (int, float)) and not isinstance(
        out["exclusiveMaximum"], bool
    ):
        out["maximum"], out["exclusiveMaximum"] = out["exclusiveMaximum"], True
    if "enum" in out and None in out["enum"]:
        out["enum"] = [v for v in out["enum"] if v is not None]
        out["nullable"] = True
    if "examples" in out and isinstance(out["examples"], list):
        examples = out.pop("examples")
        if examples:
            out.setdefault("example", examples[0])
    if out.get("default", ...) is None and "$ref" not in out:
        out["nullable"] = True
    return out


def _for_type(kind: str, keywords: dict[str, Any]) -> dict[str, Any]:
    """The keywords of a multi-type schema that apply to one of its types."""
    numeric = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
    if kind in ("number", "integer"):
        return {k: v for k, v in keywords.items() if k in numeric}
    if kind == "string":
        return {k: v for k, v in keywords.items() if k in ("enum", "minLength", "maxLength", "pattern")}
    return {}


def feature_schema(feature: Feature) -> dict[str, Any]:
    """One feature's value, as the service checks it."""
    out: dict[str, Any]
    if feature.kind is Kind.CATEGORY:
        types = sorted({type(c).__name__ for c in feature.categories})
        if feature.accepts_unseen:
            out = {"type": "integer" if types == ["int"] else "string"}
        elif types == ["int"]:
            out = {"type": "integer", "enum": list(feature.categories)}
        else:
            out = {"type": "string", "enum": [str(c) for c in feature.categories]}
    elif feature.kind is Kind.BOOLEAN:
        out = {"type": "boolean"}
    elif feature.kind is Kind.INTEGER:
        out = {"type": "integer", "minimum": INT64[0], "maximum": INT64[1]}
    else:
        out = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
    if feature.nullable:
        out["nullable"] = True
    seen = []
    if feature.minimum is not None and feature.maximum is not None:
        seen.append(
            f"training saw [{feature.minimum:.6g}, {feature.maximum:.6g}]; values outside are flagged"
        )
    if feature.nullable:
        seen.append("may be null or left out (missing)")
    if seen:
        out["description"] = "; ".join(seen)
    return out


def example_row(schema: Schema) -> dict[str, Any]:
    """A valid row: the middle of each number's training range, each category's first value."""
    row: dict[str, Any] = {}
    for f in schema.features:
        if f.kind is Kind.CATEGORY:
            row[f.name] = f.categories[0] if f.categories else None
        elif f.kind is Kind.BOOLEAN:
            row[f.name] = False
        else:
            middle = 0.0 if f.minimum is None or f.maximum is None else (f.minimum + f.maximum) / 2
            row[f.name] = round(middle) if f.kind is Kind.INTEGER else round(middle, 4)
    return row


def row_schema(schema: Schema) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "one row: the bundle's features by name",
        "properties": {f.name: feature_schema(f) for f in schema.features},
        "required": [f.name for f in schema.features if not f.nullable],
        "additionalProperties": False,
    }


def describe_rows(
    document: dict[str, Any],
    schema: Schema,
    *,
    levels: Sequence[str],
    targets: Sequence[str | int],
    max_rows: int,
) -> dict[str, Any]:
    """`document` (OpenAPI 3.0) with /predict's request naming the bundle's rows, levels and targets."""
    try:
        request = document["paths"]["/predict"]["post"]["requestBody"]
        body = request["content"]["application/json"]["schema"]
    except KeyError:
        return document
    request["required"] = True  # 'rows' is
    body = _resolve(document, body)
    props = body.get("properties", {})
    body["example"] = {"rows": [example_row(schema)]}
    if "rows" in props:
        props["rows"] = {
            "type": "array",
            "minItems": 1,
            "maxItems": max_rows,
            "items": row_schema(schema),
            "description": props["rows"].get("description", "rows to predict and explain"),
        }
    if "level" in props:
        props["level"] = {**props["level"], "enum": list(levels)}
    if "target" in props:
        names = [t for t in targets if isinstance(t, str)]
        labels = [t for t in targets if isinstance(t, int) and not isinstance(t, bool)]
        options: list[dict[str, Any]] = [{"type": "string", "enum": names}]
        if labels:
            options.append({"type": "integer", "enum": labels})
        described = {k: v for k, v in props["target"].items() if k in ("description", "default")}
        props["target"] = {**described, "anyOf": options} if len(options) > 1 else {**described, **options[0]}
    return document


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = document
    for part in ref[2:].split("/"):
        target = target[part]
    return target  # type: ignore[no-any-return]


class OpenAPITruth:
    """Rewrites BentoML's `GET /docs.json` answer (see the module's doc). `describe(document)`
    fills in the served bundle; it is called per request (the bundle is loaded in the worker)."""

    def __init__(self, app: ASGIApp, *, describe: Callable[[dict[str, Any]], dict[str, Any]]):
        self.app = app
        self.describe = describe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") not in DOC_PATHS:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None
        body = b"".join(chunks)
        if start["status"] == 200:
            body = json.dumps(self.describe(to_openapi30(json.loads(body)))).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
