"""The explanation value object: shapes checked, residual, ranking, top-k, select, fold, to_shap."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shap

from scoring import Explanation, Level, Method, Space, ValidationError
from scoring.errors import AdditivityError
from scoring.explanation import OTHER

NAMES = ("age", "income", "city_a", "city_b")


def _explanation(n: int = 3, k: int = 2, *, stderr: bool = True, seed: int = 0) -> Explanation:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, len(NAMES), k))
    base = rng.normal(size=k)
    return Explanation(
        values=values,
        base_values=base,
        outputs=base + values.sum(axis=1),
        feature_names=NAMES,
        output_names=tuple(f"class_{i}" for i in range(k)),
        space=Space.PROBABILITY,
        method=Method.KERNEL,
        stderr=rng.uniform(0.01, 0.1, size=values.shape) if stderr else None,
        data=rng.normal(size=(n, len(NAMES))),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_values", np.zeros(3)),
        ("outputs", np.zeros((3, 3))),
        ("feature_names", ("a", "b")),
        ("output_names", ("only",)),
        ("stderr", np.zeros((3, 4, 1))),
    ],
)
def test_shapes_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=r"expected|names for"):
        replace(_explanation(), **{field: value})


def test_residual_is_what_the_attributions_miss() -> None:
    e = _explanation()
    np.testing.assert_allclose(e.residual, 0, atol=1e-12)
    e.check_additivity()
    off = replace(e, outputs=e.outputs + np.array([[0.5, 0.0], [0, 0], [0, 0]]))
    assert off.residual[0, 0] == pytest.approx(0.5)
    with pytest.raises(AdditivityError, match="additivity"):
        off.check_additivity(atol=1e-6)


def test_sizes_and_error() -> None:
    e = _explanation(n=3, k=2)
    assert (e.n_rows, e.n_features, e.n_outputs) == (3, 4, 2)
    assert e.error is not None
    np.testing.assert_allclose(e.error, np.sqrt((e.stderr**2).sum(axis=1)))  # type: ignore[operator]
    assert _explanation(stderr=False).error is None


def test_ranked_by_magnitude_then_position() -> None:
    values = np.array([[[0.1], [-0.3], [0.3], [0.0]]])
    e = Explanation(values, np.zeros(1), values.sum(axis=1), NAMES, ("y",), Space.RAW, Method.LINEAR)
    assert e.ranked(0) == [("income", -0.3), ("city_a", 0.3), ("age", 0.1), ("city_b", 0.0)]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_top_k_with_other_keeps_the_sum(k: int) -> None:
    e = _explanation()
    for output in ("class_0", 1):
        top = e.top_k(1, output, k)
        assert len(top) == k + 1 and top[-1][0] == OTHER
        assert [name for name, _ in top[:k]] == [name for name, _ in e.ranked(1, output)[:k]]
        total = sum(v for _, v in top)
        assert total == pytest.approx(e.values[1, :, e.output_index(output)].sum())


def test_top_k_without_a_cut_is_the_ranking() -> None:
    e = _explanation()
    assert e.top_k(0, 0, None) == e.ranked(0, 0)
    assert e.top_k(0, 0, len(NAMES)) == e.ranked(0, 0)
    with pytest.raises(ValidationError) as info:
        e.top_k(0, 0, -1)
    assert info.value.field == "top_k"


def test_outputs_by_name_or_index() -> None:
    e = _explanation()
    assert e.output_index("class_1") == 1 and e.output_index(0) == 0
    with pytest.raises(ValidationError) as info:
        e.output_index("class_9")
    assert info.value.field == "target"
    with pytest.raises(ValidationError):
        e.output_index(2)


@pytest.mark.parametrize("rows", [1, slice(0, 2), np.array([True, False, True]), [2, 0]])
def test_select_keeps_parallel_arrays_together(rows: object) -> None:
    e = _explanation()
    idx = np.atleast_1d(np.arange(3)[rows])  # type: ignore[index]
    s = e.select(rows)
    np.testing.assert_array_equal(s.values, e.values[idx])
    np.testing.assert_array_equal(s.outputs, e.outputs[idx])
    np.testing.assert_array_equal(s.stderr, e.stderr[idx])  # type: ignore[index]
    np.testing.assert_array_equal(s.data, e.data[idx])  # type: ignore[index]
    np.testing.assert_array_equal(s.base_values, e.base_values)
    s.check_additivity()


def test_fold_with_a_matrix_keeps_additivity() -> None:
    e = _explanation()
    # age and income are raw features; both city one-hot columns belong to "city"
    matrix = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=float)
    raw = e.fold(matrix, ("age", "income", "city"), raw_data=[["30", "high", "a"]] * 3)
    assert raw.level is Level.RAW and raw.feature_names == ("age", "income", "city")
    np.testing.assert_allclose(raw.values[:, 2], e.values[:, 2] + e.values[:, 3])
    np.testing.assert_allclose(raw.stderr[:, 2], np.hypot(e.stderr[:, 2], e.stderr[:, 3]))  # type: ignore[index]
    raw.check_additivity(atol=1e-12)
    np.testing.assert_array_equal(raw.outputs, e.outputs)
    assert raw.data is not None and raw.data.dtype == object


def test_fold_with_shared_columns_keeps_additivity() -> None:
    e = _explanation()
    matrix = np.array([[0.5, 0.5], [1, 0], [0, 1], [0.25, 0.75]])
    raw = e.fold(matrix, ("a", "b"))
    raw.check_additivity(atol=1e-12)


def test_fold_refuses_a_bad_matrix() -> None:
    e = _explanation()
    with pytest.raises(ValueError, match="shape"):
        e.fold(np.ones((3, 2)) / 2, ("a", "b"))
    with pytest.raises(ValueError, match="owned"):
        e.fold(np.ones((4, 2)), ("a", "b"))


def test_to_shap_holds_one_output() -> None:
    e = _explanation()
    s = e.to_shap("class_1")
    assert isinstance(s, shap.Explanation)
    np.testing.assert_array_equal(s.values, e.values[:, :, 1])
    np.testing.assert_array_equal(s.base_values, np.full(3, e.base_values[1]))
    np.testing.assert_array_equal(s.data, e.data)
    assert list(s.feature_names) == list(NAMES)
