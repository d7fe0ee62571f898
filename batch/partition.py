"""One partition of a table in, its predictions and explanations out: plain pandas, no engine.

`explain_partition(bundle, frame)` is what every engine calls: Dask here, Spark's `mapInPandas`
or Ray Data's `map_batches` as well. A row's answer is the service's answer for it: the same
checks, the same model input, the same explainer call (every explainer treats rows
independently: one coalition design and background for all rows, fixed in the bundle).

Output columns (the naming scheme):
- the row id: `row_id` (the input position) or the `id_column` as given; then the kept columns;
- `prediction` (class name, or the regression value), `probability__<class>` per class;
- per explained output, with the suffix `__<output>` only when every output is explained for
  every row (`target="all"`): `target` (the class explained; absent when every output is),
  `base_value`, `output`, `residual`, `error` (null for exact methods), `method`, and one
  `attribution__<feature>` column per feature; with `top_k`, instead, `top_<i>_feature` and
  `top_<i>_value` for i = 1..k, largest |value| first, and `other_value` (the rest's sum);
- `error_message` with `on_error="skip"`: null, or why the row was not explained (then every
  answer column of the row is null).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from batch.errors import BatchError, RowError
from batch.layout import ERROR_MESSAGE, ROW_ID, STRING, answer_layout
from batch.options import ExplainOptions, OnError, Plan
from batch.rows import check_rows
from batch.summary import PartitionStats
from scoring.bundle import Bundle, Prediction
from scoring.explanation import Explanation
from scoring.finite import nonfinite_rows
from scoring.outputs import Outputs
from scoring.schema import plain_value


def explain_partition(
    bundle: Bundle,
    frame: pd.DataFrame,
    options: ExplainOptions | None = None,
    *,
    offset: int = 0,
    source: str = "the frame",
) -> pd.DataFrame:
    """Predict and explain every row of `frame`; one output row per input row, in order.

    `offset` is the position of the frame's first row in its table (the default row id);
    `source` names the frame in error messages (a file name).
    """
    result = explain_rows(
        bundle, Plan.of(bundle, options or ExplainOptions()), frame, offset=offset, source=source
    )
    return result.frame()


@dataclass
class Explained:
    """A partition's answer: output columns (numpy arrays, bad rows masked) and its figures."""

    columns: dict[str, np.ndarray]
    good: np.ndarray  # (n,) rows with answers; the others are null in every answer column
    answer_columns: tuple[str, ...]
    stats: PartitionStats

    def frame(self) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for name, values in self.columns.items():
            if name in self.answer_columns and not self.good.all():
                data[name] = pd.Series(values).where(self.good, None if values.dtype == object else np.nan)
            else:
                data[name] = values
        return pd.DataFrame(data)


def explain_rows(bundle: Bundle, plan: Plan, X: pd.DataFrame, *, offset: int, source: str) -> Explained:
    started = time.perf_counter()
    options = plan.options
    n = len(X)
    ids = _ids(X, options, offset, source)
    checked = check_rows(bundle.schema, X, source)
    problems = checked.problems
    if problems and options.on_error is OnError.FAIL:
        i, field, message = problems[0]
        raise RowError(
            message,
            source=source,
            row=plain_value(ids[i]),
            field=field,
        )
    good = checked.good.copy()
    answers: dict[str, np.ndarray] = {}
    m, k_total = len(plan.feature_names), len(plan.outputs.names)
    stats = PartitionStats(rows=n, explained=0, skipped=0, seconds=0.0, abs_sum=np.zeros((m, k_total)))
    if len(checked.frame):
        prediction, explanation = _predict_and_explain(bundle, checked.frame, options)
        finite = _finite(prediction, explanation)
        if not finite.all():
            where = np.flatnonzero(good)[~finite]
            if options.on_error is OnError.FAIL:
                raise RowError(
                    "the model's output or explanation is not a finite number",
                    source=source,
                    row=plain_value(ids[where[0]]),
                    field=None,
                )
            problems = sorted(
                [*problems, *((int(i), "", "the model's output or explanation is not finite") for i in where)]
            )
            good[where] = False
            prediction, explanation = _select(prediction, explanation, finite)
        explained = _explained_outputs(plan, prediction, explanation)
        error = explanation.error  # computed from stderr at each access: once here
        answers = _answer_columns(plan, prediction, explanation, explained, error, good)
        stats.explained = explanation.n_rows
        stats.abs_sum = np.abs(explanation.values).sum(axis=0)
        if error is not None:
            rows = np.arange(explanation.n_rows)
            stats.add_errors(
                error[rows[:, None], explained] if explained.ndim == 2 else error[rows, explained]
            )
        if explanation.outside is not None:  # features outside what training saw, when flagged
            stats.add_outside(explanation.outside)
    else:
        answers = _empty_columns(plan, n)
    stats.skipped = n - int(good.sum())
    columns: dict[str, np.ndarray] = {options.id_column or ROW_ID: ids}
    for name in options.keep:
        if name not in X.columns:
            raise BatchError(f"{source} has no column {name!r} to keep")
        columns[name] = X[name].to_numpy()
    columns.update(answers)
    if options.on_error is OnError.SKIP:
        messages = np.full(n, None, dtype=object)
        for i, field, message in problems:
            messages[i] = f"feature '{field}': {message}" if field else message
        columns[ERROR_MESSAGE] = messages
    stats.seconds = time.perf_counter() - started
    return Explained(columns, good, tuple(answers), stats)


def _predict_and_explain(
    bundle: Bundle, frame: pd.DataFrame, options: ExplainOptions
) -> tuple[Prediction, Explanation]:
    """The bundle's prediction and explanation of the rows. A lone row is computed as a pair (and
    the copy dropped): BLAS takes another path for a 1-row product (scikit-learn's own
    `predict_proba` too), whose last bits can differ from the same row's in a bigger partition."""
    if len(frame) == 1:
        prediction, explanation = _predict_and_explain(
            bundle, pd.concat([frame, frame], ignore_index=True), options
        )
        return _select(prediction, explanation, np.array([True, False]))
    answer = bundle.answer(frame, options.level)  # one pass, as the service's
    assert answer.explanation is not None
    return answer.prediction, answer.explanation


def _ids(X: pd.DataFrame, options: ExplainOptions, offset: int, source: str) -> np.ndarray:
    if options.id_column is None:
        return np.arange(offset, offset + len(X), dtype=np.int64)
    if options.id_column not in X.columns:
        raise BatchError(f"{source} has no id column {options.id_column!r}")
    ids = X[options.id_column]
    if ids.isna().any():
        raise BatchError(f"{source}: the id column {options.id_column!r} has missing values")
    if not ids.is_unique:
        raise BatchError(f"{source}: the id column {options.id_column!r} has repeated values")
    return ids.to_numpy()


def _finite(prediction: Prediction, explanation: Explanation) -> np.ndarray:
    """(n,) whether each row's answer is finite, judged as the service judges it."""
    ok = np.ones(explanation.n_rows, dtype=bool)
    ok[list(nonfinite_rows(prediction, explanation))] = False
    return ok


def _select(
    prediction: Prediction, explanation: Explanation, rows: np.ndarray
) -> tuple[Prediction, Explanation]:
    probabilities = None if prediction.probabilities is None else prediction.probabilities[rows]
    return Prediction(prediction.labels[rows], probabilities), explanation.select(rows)


def _explained_outputs(plan: Plan, prediction: Prediction, explanation: Explanation) -> np.ndarray:
    """(n,) the output explained for each row, or (n, K) every output, as the service picks them."""
    n = explanation.n_rows
    if plan.all_outputs:
        return np.tile(np.arange(explanation.n_outputs), (n, 1))
    if plan.output_index is not None:
        return np.full(n, plan.output_index)
    predicted = plan.outputs.index(prediction.labels)
    unknown = predicted < 0
    if unknown.any():  # as the service: a label outside classes_ falls back to the largest score
        scores = prediction.probabilities if prediction.probabilities is not None else explanation.outputs
        predicted = np.where(unknown, np.argmax(scores, axis=1), predicted)
    return predicted


def _answer_columns(
    plan: Plan,
    prediction: Prediction,
    explanation: Explanation,
    explained: np.ndarray,
    error: np.ndarray | None,
    good: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every answer column over all n rows, each a contiguous array (Arrow takes it without a
    copy); rows not in `good` hold placeholders (masked later). `explained` is
    `_explained_outputs`, `error` the explanation's."""
    n = len(good)
    outputs = plan.outputs
    cols: dict[str, np.ndarray] = {}
    every_row = bool(good.all())

    def spread(values: np.ndarray, fill: Any) -> np.ndarray:
        if every_row:
            return np.ascontiguousarray(values)
        full = np.full((n, *values.shape[1:]), fill, dtype=values.dtype if fill is not None else object)
        full[good] = values
        return full

    classify = outputs.classify
    cols["prediction"] = spread(_labels(outputs, prediction.labels), None if classify else np.nan)
    if prediction.probabilities is not None:
        by_class = np.ascontiguousarray(prediction.probabilities.T)  # (K, n)
        for k, name in enumerate(outputs.names):
            cols[f"probability__{name}"] = spread(by_class[k], np.nan)
    pairs = (
        [(explained[:, k], f"__{outputs.names[k]}") for k in range(explained.shape[1])]
        if explained.ndim == 2
        else [(explained, "")]
    )
    rows = np.arange(explanation.n_rows)
    residual = explanation.residual
    for chosen, suffix in pairs:
        if not suffix and classify:
            cols["target"] = spread(np.asarray(outputs.names, dtype=object)[chosen], None)
        cols[f"base_value{suffix}"] = spread(explanation.base_values[chosen].astype(float), np.nan)
        cols[f"output{suffix}"] = spread(explanation.outputs[rows, chosen], np.nan)
        cols[f"residual{suffix}"] = spread(residual[rows, chosen], np.nan)
        stated = np.full(len(rows), np.nan) if error is None else error[rows, chosen]
        cols[f"error{suffix}"] = spread(stated, np.nan)
        cols[f"method{suffix}"] = spread(np.full(len(rows), str(explanation.method), dtype=object), None)
        values = explanation.values[rows, :, chosen]  # (n, M)
        if plan.options.top_k is None:
            by_feature = np.ascontiguousarray(values.T)  # (M, n): one copy, then a row per column
            for j, feature in enumerate(explanation.feature_names):
                cols[f"attribution__{feature}{suffix}"] = spread(by_feature[j], np.nan)
            continue
        order = np.argsort(-np.abs(values), axis=1, kind="stable")  # as the service ranks them
        ranked = np.take_along_axis(values, order, axis=1)
        keep = min(plan.options.top_k, explanation.n_features)
        names = np.asarray(explanation.feature_names, dtype=object)
        for i in range(keep):
            cols[f"top_{i + 1}_feature{suffix}"] = spread(names[order[:, i]], None)
            cols[f"top_{i + 1}_value{suffix}"] = spread(ranked[:, i], np.nan)
        if keep < explanation.n_features:
            cols[f"other_value{suffix}"] = spread(ranked[:, keep:].sum(axis=1), np.nan)
    return cols


def _labels(outputs: Outputs, labels: np.ndarray) -> np.ndarray:
    """The predictions as the service writes them (`Outputs.classes`), computed once per
    distinct label rather than once per row: class names (objects) or regression values."""
    if not outputs.classify:
        return np.asarray(outputs.classes(labels), dtype=float)
    codes, distinct = pd.factorize(np.asarray(labels), use_na_sentinel=False)
    return np.asarray(outputs.classes(np.asarray(distinct)), dtype=object)[codes]


def _empty_columns(plan: Plan, n: int) -> dict[str, np.ndarray]:
    """The answer columns of a partition with no good row: every value null."""
    return {
        name: np.full(n, None, dtype=object) if kind == STRING else np.full(n, np.nan)
        for name, kind in answer_layout(plan)
    }
