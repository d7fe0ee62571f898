"""summarize: a weighted k-means summary; with min_cluster_size, no training row is kept as is."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.background import summarize


def data(n: int = 120, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, 4))
    X[0] = [40.0, -40.0, 40.0, -40.0]  # an outlier: k-means gives it a cluster of its own
    return X


def test_weights_are_cluster_shares_and_the_mean_is_kept() -> None:
    X = data()
    summary = summarize(X, 10)
    assert summary.size == 10 and summary.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(summary.weights @ summary.rows, X.mean(axis=0), atol=1e-12)


def test_without_a_minimum_an_outlier_is_kept_as_it_is() -> None:
    X = data()
    assert any(np.array_equal(row, X[0]) for row in summarize(X, 30).rows)


def test_with_a_minimum_every_row_is_a_mean_of_at_least_that_many() -> None:
    X = data()
    summary = summarize(X, 30, min_cluster_size=5)
    counts = summary.weights * len(X)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert (np.round(counts) >= 5).all() and summary.size <= 24
    assert summary.size == 24  # few rows: fixed-size groups, none lost to merging
    big = summarize(np.random.default_rng(1).normal(size=(2000, 4)), 30, min_cluster_size=5)
    assert 20 <= big.size <= 30 and (np.round(big.weights * 2000) >= 5).all()  # k-means clusters
    rows = {row.tobytes() for row in X}
    assert not any(row.tobytes() in rows for row in summary.rows)
    np.testing.assert_allclose(summary.weights @ summary.rows, X.mean(axis=0), atol=1e-12)
    # fewer rows than the minimum: one row, their mean
    few = summarize(X[:3], 30, min_cluster_size=5)
    assert few.size == 1
    np.testing.assert_allclose(few.rows[0], X[:3].mean(axis=0))
    with pytest.raises(ValueError, match="numeric"):
        summarize(X.astype(str).astype(object), 5, min_cluster_size=5)


@pytest.mark.parametrize("blobs", [False, True])
def test_with_a_minimum_the_grouping_that_spreads_its_rows_less_is_kept(blobs) -> None:
    from sklearn.cluster import KMeans

    from scoring.background import _merge_small, _microaggregate, _spread

    rng = np.random.default_rng(2)
    if blobs:  # 40 tight blobs of 20 rows: k-means finds them, fixed-size groups cut across
        X = np.repeat(rng.normal(size=(40, 3)) * 10, 20, axis=0) + rng.normal(size=(800, 3)) * 0.1
    else:  # 455 rows for 100 clusters: k-means leaves many below 5 rows and merging halves it
        X = rng.normal(size=(455, 6))
    summary = summarize(X, 100, min_cluster_size=5)
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    size = min(100, len(X) // 5)
    merged = _merge_small(z, KMeans(n_clusters=size, n_init=4, random_state=0).fit(z).labels_, 5)
    groups = _microaggregate(z, max(5, -(-len(X) // size)))
    assert np.bincount(groups).min() >= 5
    kept = merged if _spread(z, merged) <= _spread(z, groups) else groups
    assert (kept is merged) == blobs
    assert summary.size == len(np.unique(kept))
    expected = np.sort(np.stack([X[kept == c].mean(axis=0) for c in np.unique(kept)]), axis=0)
    np.testing.assert_allclose(np.sort(summary.rows, axis=0), expected, atol=1e-12)


def test_the_summary_whose_value_function_is_closest_moves_shapley_values_least() -> None:
    from scoring.background import Background, closest_summary
    from scoring.fidelity import reference_values, relative_l2

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4)) * np.array([1.0, 5.0, 5.0, 5.0])

    def f(rows: np.ndarray) -> np.ndarray:  # only feature 0 moves the output, and not linearly
        p = 1.0 / (1.0 + np.exp(-3.0 * rows[:, 0] ** 2 + 2.0 + 0.1 * rows[:, 1]))
        return np.column_stack([1.0 - p, p])

    plain = summarize(X, 60, min_cluster_size=5)  # groups by the wide features
    weighted = summarize(X, 60, min_cluster_size=5, feature_weights=np.array([1.0, 0.02, 0.02, 0.02]))
    full = Background(X, np.full(len(X), 1.0 / len(X)))
    best, gaps = closest_summary(f, X, [plain, weighted, full])
    assert best == 2 and gaps[2] == 0.0  # X itself (at most max_background rows) has no gap
    best, gaps = closest_summary(f, X, [plain, weighted])
    assert best == 1 and gaps[1] < gaps[0] / 2
    # ground truth: exact Shapley values over each background
    rows = X[:20]
    exact = reference_values(f, rows, X, max_evaluations=10**9)
    shifts = [
        np.median(
            relative_l2(
                reference_values(f, rows, s.rows, weights=s.weights, max_evaluations=10**9).values,
                exact.values,
            )
        )
        for s in (plain, weighted)
    ]
    assert exact.kind == "exact" and shifts[1] < 0.7 * shifts[0]
