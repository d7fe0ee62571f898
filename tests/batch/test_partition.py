"""explain_partition: the service's answers for every row, whatever the partition, and bad rows
named by file, row and field (or written with their message)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from batch import BatchError, ExplainOptions, Plan, RowError, explain_partition, output_schema, spark_ddl
from batch.partition import explain_rows
from scoring.bundle import Bundle
from scoring.explanation import Level
from scoring.outputs import Outputs
from service.requests import ExplainOptions as ServiceOptions
from service.requests import parse_options
from service.responses import predict_body
from tests.batch.answers import assert_additive, assert_matches_service
from tests.batch.conftest import built
from tests.service.bundles import mixed_frame

# the service compares with: its own request path on the same rows, in-process


def bundle(name: str) -> Bundle:
    return built(name)  # fitted once per test process, shared with the other batch tests


def table(name: str, n: int, seed: int = 7) -> pd.DataFrame:
    b = bundle(name)
    if name == "mixed":
        return mixed_frame(n, seed=seed)[0]
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, len(b.schema.names))), columns=list(b.schema.names))


def service_body(b: Bundle, X: pd.DataFrame, **request: object) -> dict[str, object]:
    """What POST /predict answers for rows X (the service's request checks and body builder)."""
    from service.requests import parse_rows

    options: ServiceOptions = parse_options(
        b,
        explain=True,
        top_k=request.get("top_k"),
        level=request.get("level", "raw"),
        target=request.get("target", "predicted"),
    )
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in X.to_dict("records")
    ]
    frame = parse_rows(b, rows, max_rows=10_000)
    return predict_body({}, Outputs.of(b), b.predict(frame), b.explain(frame, options.level), options)


@pytest.mark.parametrize("name", ["mixed", "svc", "amortized", "logistic", "regression"])
def test_rows_match_the_service_exactly(name: str) -> None:
    b = bundle(name)
    X = table(name, 30)
    out = explain_partition(b, X)
    assert out["row_id"].tolist() == list(range(30))
    assert_matches_service(out, service_body(b, X))
    assert_additive(out, atol=1e-9 if name != "svc" else 1e-6)


@pytest.mark.parametrize(
    ("target", "top_k", "level"),
    [("all", None, "raw"), ("high", 2, "raw"), ("predicted", 3, "engineered"), ("all", 1, "engineered")],
)
def test_options_match_the_service(target: str, top_k: int | None, level: str) -> None:
    b = bundle("mixed")
    X = table("mixed", 20)
    out = explain_partition(b, X, ExplainOptions(target=target, top_k=top_k, level=Level(level)))
    body = service_body(b, X, target=target, top_k=top_k, level=level)
    assert_matches_service(out, body, all_outputs=target == "all")
    assert (
        list(out.columns)
        == output_schema(Plan.of(b, ExplainOptions(target=target, top_k=top_k, level=Level(level)))).names
    )
    ddl = spark_ddl(output_schema(Plan.of(b, ExplainOptions(target=target, top_k=top_k, level=Level(level)))))
    assert [part.split("`")[1] for part in ddl.split(", ")] == list(out.columns)


@pytest.mark.parametrize("name", ["svc", "amortized", "mixed"])
def test_a_rows_answer_does_not_depend_on_its_partition(name: str) -> None:
    b = bundle(name)
    X = table(name, 60)
    whole = explain_partition(b, X)
    cuts = [0, 1, 3, 19, 41, 60]  # a one-row partition too
    parts = [
        explain_partition(b, X.iloc[lo:hi].reset_index(drop=True), offset=lo)
        for lo, hi in itertools.pairwise(cuts)
    ]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole, check_exact=True)


def test_id_and_kept_columns() -> None:
    b = bundle("logistic")
    X = table("logistic", 10)
    X["customer"] = [f"c{i}" for i in range(10)]
    X["region"] = list("ababababab")
    out = explain_partition(b, X, ExplainOptions(id_column="customer", keep=("region",)))
    assert out.columns[:2].tolist() == ["customer", "region"]
    assert out["customer"].tolist() == X["customer"].tolist()
    with pytest.raises(BatchError, match="repeated"):
        explain_partition(b, X.assign(customer="same"), ExplainOptions(id_column="customer"))


BAD_VALUES = [
    ("size", np.inf, "finite number"),
    ("size", "abc", "finite number"),
    ("count", 2.5, "integer"),
    ("color", "purple", "unseen category"),
    ("color", None, "expected a value"),
    ("size", None, "expected a value"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_a_bad_row_stops_the_job_naming_file_row_and_field(field: str, value: object, message: str) -> None:
    b = bundle("mixed")
    X = table("mixed", 12).astype({field: object})
    X.loc[5, field] = value
    with pytest.raises(RowError, match=message) as caught:
        explain_partition(b, X, offset=100, source="part-3.parquet")
    assert (caught.value.source, caught.value.row, caught.value.field) == ("part-3.parquet", 105, field)
    # the service rejects the same row, naming the same field
    from scoring.errors import ValidationError

    with pytest.raises(ValidationError) as served:
        service_body(b, X.iloc[[5]].reset_index(drop=True))
    assert served.value.field == field


def test_skipped_rows_are_written_with_their_message_and_no_values() -> None:
    b = bundle("mixed")
    X = table("mixed", 12).astype({"size": object})
    X.loc[[3, 8], "size"] = ["abc", np.inf]
    plan = Plan.of(b, ExplainOptions(on_error="skip"))
    result = explain_rows(b, plan, X, offset=0, source="t.csv")
    out = result.frame()
    assert out["error_message"].notna().tolist() == [i in (3, 8) for i in range(12)]
    assert "feature 'size'" in out["error_message"][3]
    answers = [c for c in out.columns if c not in ("row_id", "error_message")]
    assert out.loc[[3, 8], answers].isna().all().all()
    assert out.drop(index=[3, 8])[answers].drop(columns=["error"]).notna().all().all()
    assert (result.stats.rows, result.stats.explained, result.stats.skipped) == (12, 10, 2)
    good = explain_partition(b, X.drop(index=[3, 8]).reset_index(drop=True).astype({"size": float}))
    kept = out.drop(index=[3, 8]).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[answers], good[answers], check_dtype=False)


def test_missing_column_and_bad_options_are_errors() -> None:
    b = bundle("mixed")
    with pytest.raises(BatchError, match="no column 'color'"):
        explain_partition(b, table("mixed", 5).drop(columns="color"))
    with pytest.raises(BatchError, match="target"):
        explain_partition(b, table("mixed", 5), ExplainOptions(target="purple"))
    with pytest.raises(BatchError, match="top_k"):
        ExplainOptions(top_k=-1)
    with pytest.raises(BatchError, match="level"):
        ExplainOptions(level="neither")  # type: ignore[arg-type]
    with pytest.raises(BatchError, match="on_error"):
        ExplainOptions(on_error="ignore")  # type: ignore[arg-type]


def test_figures_are_reductions_of_the_rows() -> None:
    b = bundle("amortized")
    X = table("amortized", 200)
    plan = Plan.of(b, ExplainOptions())
    halves = [explain_rows(b, plan, X.iloc[i : i + 100], offset=i, source="t") for i in (0, 100)]
    total = halves[0].stats.merge(halves[1].stats)
    e = b.explain(X)
    np.testing.assert_allclose(total.abs_sum / total.explained, np.abs(e.values).mean(axis=0), rtol=1e-12)
    predicted = Outputs.of(b).index(b.predict(X).labels)
    assert e.error is not None
    stated = e.error[np.arange(200), predicted]
    quantiles = total.error_quantiles()
    assert quantiles is not None
    for q in (0.5, 0.9):
        assert abs(quantiles[f"p{round(q * 100)}"] / np.quantile(stated, q) - 1) < 0.05
    assert quantiles["max"] == stated.max()
    # out-of-range counts, where the explainer flags features outside what training saw
    if e.outside is not None:
        assert total.outside is not None
        assert total.outside.tolist() == e.outside.sum(axis=0).tolist()
        assert total.rows_outside == int(e.outside.any(axis=1).sum()) > 0
