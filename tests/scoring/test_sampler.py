"""The summary sampler (scoring.explainers.sampler) against exact Shapley values by enumeration:
unbiased, its stated variance honest, its error falling as rounds add permutations."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier

from scoring.background import summarize
from scoring.explainers.sampler import BLOCK_ELEMENTS, SummarySampler
from tests.scoring.ground_truth import shapley_table


def _problem():  # type: ignore[no-untyped-def]
    X, y = make_classification(n_samples=300, n_features=5, n_informative=4, n_redundant=0, random_state=3)
    model = MLPClassifier((12,), max_iter=800, random_state=0).fit(X, y)
    summary = summarize(X, 20, min_cluster_size=5)
    rows = X[:12] * 1.5  # some rows beyond the data, where the walks vary more
    exact, _ = shapley_table(model.predict_proba, rows, summary.rows, summary.weights)
    return model.predict_proba, summary, rows, exact


def test_the_sampled_values_are_unbiased_with_an_honest_variance() -> None:
    f, summary, rows, exact = _problem()
    z2, errors = [], []
    for seed in range(6):
        sampler = SummarySampler(f, summary, rows, np.random.default_rng(seed))
        sampler.run(8)
        first = np.sqrt(((sampler.estimate()[0] - exact) ** 2).sum(axis=1))
        for size in (8, 16, 32, 64, 128):  # rounds add up: 256 permutations in all
            sampler.run(size)
        values, variance = sampler.estimate()
        assert sampler.permutations == 256
        z2.append((values - exact) ** 2 / variance)
        errors.append((np.sqrt(((values - exact) ** 2).sum(axis=1)), first))
    # squared z-scores average 1 when the stated variance is the actual one (360 of them, each
    # binary output twice; 1.09 here). Background rows are dealt systematically: the spread of
    # all pairs, which does not credit that, gave 0.68; the spread within each summary row is
    # the estimate's own
    assert 0.75 < float(np.mean(z2)) < 1.35
    # 32x the permutations: the error falls (sqrt(32) ~ 5.7 for pure noise)
    late, early = (np.median(np.concatenate(e)) for e in zip(*errors, strict=True))
    assert late < early / 3


def test_a_round_held_in_blocks_gives_the_same_values(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Blocks bound what a round holds at once; they change neither the draws nor the sums."""
    f, summary, rows, _ = _problem()
    whole = SummarySampler(f, summary, rows, np.random.default_rng(0))
    whole.run(64)
    monkeypatch.setattr("scoring.explainers.sampler.BLOCK_ELEMENTS", 2 * len(rows) * 5 * 2 * 3)
    blocks = SummarySampler(f, summary, rows, np.random.default_rng(0))
    blocks.run(64)
    assert BLOCK_ELEMENTS > 2 * len(rows) * 5 * 2 * 64  # the default holds it in one block
    for a, b in zip(whole.estimate(), blocks.estimate(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
