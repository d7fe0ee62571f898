"""The output's columns and their types, known before any row is read (see `batch.partition`
for the naming scheme): so every partition file has the same schema, and an engine that wants
one up front (Spark's `mapInPandas`) can have it."""

from __future__ import annotations

import pyarrow as pa

from batch.options import OnError, Plan

ROW_ID = "row_id"
ERROR_MESSAGE = "error_message"
STRING = "string"
DOUBLE = "double"


def answer_layout(plan: Plan) -> list[tuple[str, str]]:
    """(name, "string" | "double") of every answer column, in order."""
    outputs = plan.outputs
    cols = [("prediction", STRING if outputs.classify else DOUBLE)]
    if outputs.classify:
        cols += [(f"probability__{name}", DOUBLE) for name in outputs.names]
    suffixes = [f"__{name}" for name in outputs.names] if plan.all_outputs else [""]
    for suffix in suffixes:
        if not suffix and outputs.classify:
            cols.append(("target", STRING))
        cols += [(f"{field}{suffix}", DOUBLE) for field in ("base_value", "output", "residual", "error")]
        cols.append((f"method{suffix}", STRING))
        top_k = plan.options.top_k
        if top_k is None:
            cols += [(f"attribution__{feature}{suffix}", DOUBLE) for feature in plan.feature_names]
            continue
        keep = min(top_k, len(plan.feature_names))
        for i in range(keep):
            cols += [(f"top_{i + 1}_feature{suffix}", STRING), (f"top_{i + 1}_value{suffix}", DOUBLE)]
        if keep < len(plan.feature_names):
            cols.append((f"other_value{suffix}", DOUBLE))
    return cols


def output_schema(plan: Plan, input_schema: pa.Schema | None = None) -> pa.Schema:
    """The output's Arrow schema. The id and kept columns take their types from `input_schema`
    (the input's), else the id is the int64 `row_id` and kept columns are left out."""
    options = plan.options
    fields: list[pa.Field] = []
    if options.id_column is None:
        fields.append(pa.field(ROW_ID, pa.int64()))
    elif input_schema is not None:
        fields.append(input_schema.field(options.id_column))
    if input_schema is not None:
        fields += [input_schema.field(name) for name in options.keep]
    types = {STRING: pa.string(), DOUBLE: pa.float64()}
    fields += [pa.field(name, types[kind]) for name, kind in answer_layout(plan)]
    if options.on_error is OnError.SKIP:
        fields.append(pa.field(ERROR_MESSAGE, pa.string()))
    return pa.schema(fields)


SPARK_TYPES = {"int64": "bigint", "int32": "int", "double": "double", "float": "float", "string": "string",
               "large_string": "string", "bool": "boolean"}  # fmt: skip


def spark_ddl(schema: pa.Schema) -> str:
    """The schema as a Spark DDL string (for `mapInPandas`), e.g. "`row_id` bigint, ..."."""
    parts = []
    for f in schema:
        kind = SPARK_TYPES.get(str(f.type))
        if kind is None:
            raise ValueError(f"column {f.name!r} has Arrow type {f.type}, which spark_ddl does not map")
        parts.append(f"`{f.name}` {kind}")
    return ", ".join(parts)
