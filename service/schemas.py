"""Request and response types, one per direction, for the OpenAPI document (/docs.json).

Request fields are parsed as plain JSON values (`Any`) and checked by `service.requests`, so
that no value is coerced ("1.5" stays a string) and every client error has the same body shape;
`WithJsonSchema` documents the types those checks enforce.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

JsonScalar = str | float | int | bool | None

ROWS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "description": "one row: every feature of the model's schema (see /metadata), by name",
        "additionalProperties": {"type": ["number", "integer", "string", "boolean", "null"]},
    },
    "description": "rows to predict and explain; numbers must be finite JSON numbers, never strings",
}
EXAMPLE: dict[str, Any] = {"rows": [{"mean radius": 14.1, "mean texture": 19.3}], "top_k": 5}


class PredictRequest(BaseModel):
    """Rows to predict and explain. Only `rows` is required."""

    model_config = ConfigDict(
        json_schema_extra={"required": ["rows"], "additionalProperties": False, "example": EXAMPLE}
    )

    rows: Annotated[Any, WithJsonSchema(ROWS_SCHEMA)] = None
    explain: Annotated[
        Any, WithJsonSchema({"type": "boolean", "default": True, "description": "false: predictions only"})
    ] = True
    top_k: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["integer", "null"],
                "minimum": 0,
                "default": None,
                "description": "keep the k largest attributions and sum the rest into '(other)'",
            }
        ),
    ] = None
    level: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "string",
                "enum": ["raw", "engineered"],
                "default": "raw",
                "description": "raw: the columns sent; engineered: the model's inputs after preprocessing",
            }
        ),
    ] = "raw"
    target: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["string", "integer"],
                "default": "predicted",
                "description": "'predicted' (each row's predicted class), 'all' (every class), or one class",
            }
        ),
    ] = "predicted"
    max_ms: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["number", "null"],
                "minimum": 0,
                "maximum": 1000,
                "default": None,
                "description": "refine every row's explanation with model evaluations for at most "
                "this many milliseconds per row (amortized explainer; null: the service's default "
                "refinement of out-of-range and uncertain rows only)",
            }
        ),
    ] = None
    precision: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "default": None,
                "description": "stop refining a row once its stated error is at most this",
            }
        ),
    ] = None


class Attribution(BaseModel):
    feature: str = Field(description="a feature name, or '(other)' for the sum of those left out by top_k")
    value: float


class ExplanationItem(BaseModel):
    row: int = Field(description="the row's index in the request")
    target: str | None = Field(description="the explained class (null for a regressor)")
    space: str = Field(description="probability, log_odds or raw")
    method: str = Field(description="linear, tree, exact, kernel, surrogate or amortized")
    level: str = Field(description="raw or engineered")
    base_value: float
    output: float = Field(description="the explained output: base_value + sum(values) + residual")
    residual: float
    error: float | None = Field(
        description="estimate of this row's L2 distance (over features) to the true values: the "
        "bootstrap standard error of a sampled explanation; for the amortized one, its per-row error "
        "model calibrated on held-out rows at fit time (half of fresh rows' actual errors are above "
        "it), and after refinement the combined error; null for exact methods"
    )
    outside: list[str] = Field(
        default_factory=list,
        description="features whose value lies outside what training saw (a number beyond the "
        "range, an unseen category); the explanation is less certain there",
    )
    evaluations: int | None = Field(
        default=None,
        description="model evaluations spent refining this row after its first answer (0: none); "
        "null when the method is not refined",
    )
    attributions: list[Attribution] = Field(description="largest |value| first")


class ModelRef(BaseModel):
    name: str
    version: str


class RowError(BaseModel):
    """A row of the request that could not be answered (its numbers are null); the others were."""

    error: str
    row: int
    field: str | None = None


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    predictions: list[JsonScalar] = Field(description="one per row: a class name, or a number")
    probabilities: list[dict[str, float] | None] | None = Field(
        description="per row, class -> probability (null for a row listed in errors)"
    )
    explanations: list[ExplanationItem] | None = Field(
        description="one per row (per row and class with target 'all'), in row order; null if explain=false"
    )
    errors: list[RowError] | None = Field(
        default=None,
        description="rows that could not be answered, e.g. values so large the model's arithmetic "
        "overflows (their predictions are null, they have no explanation); absent when every row was",
    )


class ErrorResponse(BaseModel):
    """Every client error (4xx) and the generic 500."""

    error: str
    row: int | None = None
    field: str | None = None


class GlobalImportanceRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    level: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["string", "null"],
                "enum": ["raw", "engineered", None],
                "description": "null: every level",
            }
        ),
    ] = None


class ImportanceFeature(BaseModel):
    feature: str
    value: float = Field(description="mean |attribution| over the report's rows (and over outputs)")
    outputs: dict[str, float] | None = Field(default=None, description="per explained output")


class ImportanceLevel(BaseModel):
    rows: int | None
    space: str | None
    measure: str
    features: list[ImportanceFeature]


class GlobalImportanceResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    source: str | None = Field(description="which rows the training report explained")
    levels: dict[str, ImportanceLevel]


class MetadataRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})


class MetadataResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    task: str
    target: str
    classes: list[str]
    class_labels: list[JsonScalar]
    model_class: str | None
    schema_: dict[str, Any] = Field(alias="schema", description="the raw features a row must have")
    levels: list[str]
    explainer: dict[str, Any] = Field(description="method, space, outputs, params, fidelity")
    metrics: dict[str, float]
    metrics_on: str | None
    versions: dict[str, Any]
    limits: dict[str, int]
    validation: dict[str, Any] = Field(
        default_factory=dict,
        description="reject_beyond_range: the multiple of a feature's training range beyond which a "
        "value gets a 400 (null: any finite value is taken)",
    )
    refinement: dict[str, Any] = Field(
        default_factory=dict,
        description="whether explanations can be refined with a per-request budget (max_ms), the "
        "default refinement's budget per row, and which rows it takes",
    )
