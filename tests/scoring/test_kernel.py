"""KernelExplainer: exact when every coalition fits the budget, close and honest when sampled."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from scoring import KernelExplainer, Method
from scoring.explainers.coalitions import assign_background, coalition_values, kernel_weight, make_design
from tests.scoring.conftest import Problem
from tests.scoring.ground_truth import relative_error

# A generous budget (most of the 2^M - 2 coalitions) keeps every row and output within this
# relative L2 error of the brute-force values: ||phi - truth|| / ||truth|| <= 5%.
GENEROUS = {"multiclass": 200, "regression": 600}
TOLERANCE = 0.05


def _kernel(problem: Problem, **params: object) -> KernelExplainer:
    """Every coalition on each of 8 background rows, unless `rows_per_coalition` is given."""
    params = {"rows_per_coalition": None, **params}
    return KernelExplainer(n_background=8, **params).fit(problem.model, problem.X)  # type: ignore[arg-type]


def test_the_defaults_sample_background_rows_per_coalition(regression: Problem) -> None:
    explainer = KernelExplainer().fit(regression.model, regression.X)
    assert explainer.rows_ is not None, "the default design must leave coalitions to sample"
    assert explainer.evaluations_per_row_ == explainer.design_.masks.shape[0] * 4
    e = explainer.explain(regression.rows)
    e.check_additivity(atol=1e-6)
    assert e.error is not None and np.all(np.isfinite(e.error))


def test_full_budget_is_exact(problem: Problem) -> None:
    full = 2**problem.n_features - 2
    explainer = _kernel(problem, budget=full)
    assert explainer.design_.masks.shape[0] == full
    truth, base = problem.truth(explainer.background_)
    e = explainer.explain(problem.rows)
    np.testing.assert_allclose(e.values, truth, rtol=0, atol=1e-9)
    np.testing.assert_allclose(e.base_values, base, rtol=0, atol=1e-9)
    assert e.stderr is not None and np.all(e.stderr == 0)  # nothing was sampled


@pytest.mark.parametrize("sampling", ["leverage", "kernel"])
def test_generous_budget_is_within_tolerance(problem: Problem, sampling: str) -> None:
    explainer = _kernel(problem, budget=GENEROUS[problem.name], sampling=sampling)
    assert (explainer.design_.strata >= 0).any(), "the budget must leave something to sample"
    truth, _ = problem.truth(explainer.background_)
    e = explainer.explain(problem.rows)
    assert relative_error(e.values, truth).max() <= TOLERANCE
    e.check_additivity(atol=1e-6)
    assert e.method is Method.KERNEL


def test_stated_stderr_is_honest(multiclass: Problem) -> None:
    """The bootstrap error estimate is of the order of the actual error against exact values."""
    rows = multiclass.X[:20]
    ratios = []
    for seed in range(3):
        explainer = _kernel(multiclass, budget=100, seed=seed)
        truth, _ = multiclass.truth(explainer.background_, rows)
        e = explainer.explain(rows)
        assert e.error is not None
        actual = np.linalg.norm(e.values - truth, axis=1)
        ratios.append(actual / e.error)
    median = float(np.median(np.concatenate(ratios)))
    assert 0.3 <= median <= 3.0, f"actual/stated error ratio {median:.2f}"


def test_deterministic_for_a_seed_and_not_across_seeds(multiclass: Problem) -> None:
    a = _kernel(multiclass, budget=60, seed=3).explain(multiclass.rows)
    b = _kernel(multiclass, budget=60, seed=3).explain(multiclass.rows)
    c = _kernel(multiclass, budget=60, seed=4).explain(multiclass.rows)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.stderr, b.stderr)
    assert not np.allclose(a.values, c.values, rtol=0, atol=1e-9)


def test_budget_bounds_model_evaluations(regression: Problem) -> None:
    calls = []

    class Counting:
        def __init__(self, model: object) -> None:
            self.model = model

        def predict(self, X: np.ndarray) -> np.ndarray:
            calls.append(len(X))
            return self.model.predict(X)  # type: ignore[attr-defined]

    explainer = KernelExplainer(n_background=8, budget=100).fit(Counting(regression.model), regression.X)
    calls.clear()
    explainer.explain(regression.rows)
    n = len(regression.rows)
    assert explainer.evaluations_per_row_ <= 100 * 8
    # every coalition over every background row, plus the rows themselves
    assert sum(calls) == n * explainer.evaluations_per_row_ + n


def test_unknown_sampling_is_refused(multiclass: Problem) -> None:
    with pytest.raises(ValueError, match="sampling"):
        _kernel(multiclass, sampling="uniform")


@pytest.mark.parametrize("sampling", ["leverage", "kernel"])
@pytest.mark.parametrize(("m", "budget"), [(6, 20), (10, 100), (10, 1000), (30, 512)])
def test_design_is_a_valid_stratified_sample(m: int, budget: int, sampling: str) -> None:
    d = make_design(m, budget, sampling=sampling, seed=0)
    sizes = d.masks.sum(axis=1)
    assert len(d.masks) <= budget
    assert ((sizes > 0) & (sizes < m)).all(), "empty and full coalitions are never regressed on"
    assert len({mask.tobytes() for mask in d.masks}) == len(d.masks), "no coalition twice"
    # the weights estimate the Shapley kernel's total mass, in every size stratum
    for s in range(1, m // 2 + 1):
        in_stratum = (sizes == s) | (sizes == m - s)
        if not in_stratum.any():
            continue
        n_subsets = comb(m, s) * (1 if 2 * s == m else 2)
        assert d.weights[in_stratum].sum() == pytest.approx(kernel_weight(m, s) * n_subsets)
    # sampled coalitions come in complementary pairs
    for pair in np.unique(d.pair_ids[d.strata >= 0]):
        a, b = d.masks[d.pair_ids == pair]
        np.testing.assert_array_equal(a, ~b)


# -- a sampled background: a few background rows per coalition, with a control variate ------------


def test_sampled_background_values_are_unbiased(regression: Problem) -> None:
    """Averaged over draws, coalition values on r rows each equal the values on the whole
    background; the rows follow the weights; a coalition and its complement share rows."""
    bg = KernelExplainer(n_background=8).fit(regression.model, regression.X).background_
    masks = make_design(regression.n_features, 40, sampling="leverage", seed=0).masks
    rows = regression.rows[:1]
    exact = coalition_values(regression.f, rows, masks, bg)
    draws = [assign_background(masks, bg.weights, 2, seed=s) for s in range(400)]
    mean = np.mean([coalition_values(regression.f, rows, masks, bg, rows=d) for d in draws], axis=0)
    spread = np.ptp(exact)
    assert np.abs(mean - exact).max() < 0.05 * spread
    counts = np.bincount(np.concatenate([d.ravel() for d in draws]), minlength=bg.size)
    np.testing.assert_allclose(counts / counts.sum(), bg.weights, atol=0.01)
    complement = {m.tobytes(): i for i, m in enumerate(masks)}
    for c, mask in enumerate(masks):
        if (~mask).tobytes() in complement:
            np.testing.assert_array_equal(draws[0][c], draws[0][complement[(~mask).tobytes()]])


def test_sampled_background_is_close_and_its_stderr_honest(problem: Problem) -> None:
    """4 of the 8 background rows per coalition: half the evaluations, more noise (on so few
    features there are no more coalitions to spend them on), and an error estimate that says so."""
    rows = problem.X[:12]
    ratios, errors = [], []
    for seed in range(3):
        explainer = _kernel(problem, budget=200, rows_per_coalition=4, seed=seed)
        assert explainer.evaluations_per_row_ == len(explainer.design_.masks) * 4
        truth, _ = problem.truth(explainer.background_, rows)
        e = explainer.explain(rows)
        e.check_additivity(atol=1e-6)
        assert e.error is not None
        actual = np.linalg.norm(e.values - truth, axis=1)
        ratios.append(actual / e.error)
        errors.append(relative_error(e.values, truth))
    assert float(np.median(np.concatenate(errors))) < 0.25
    median = float(np.median(np.concatenate(ratios)))
    assert 0.3 <= median <= 3.0, f"actual/stated error ratio {median:.2f}"


def test_sampled_background_is_exact_when_every_coalition_is_enumerated(multiclass: Problem) -> None:
    # affordable: 2^M - 2 coalitions on all 8 rows cost at most budget x 2 evaluations
    explainer = _kernel(multiclass, budget=2**multiclass.n_features * 4, rows_per_coalition=2)
    assert explainer.rows_ is None  # nothing sampled: every coalition sees the whole background
    truth, _ = multiclass.truth(explainer.background_)
    np.testing.assert_allclose(explainer.explain(multiclass.rows).values, truth, rtol=0, atol=1e-9)


def test_enumerated_coalitions_sample_rows_when_every_row_costs_more(multiclass: Problem) -> None:
    """Enumerating every coalition on every row would cost above budget x rows_per_coalition:
    each coalition is then evaluated on its own rows, and the stated error covers that noise."""
    budget = 2**multiclass.n_features
    explainer = _kernel(multiclass, budget=budget, rows_per_coalition=2)
    assert not (explainer.design_.strata >= 0).any() and explainer.rows_ is not None
    assert explainer.evaluations_per_row_ <= budget * 2
    truth, _ = multiclass.truth(explainer.background_)
    e = explainer.explain(multiclass.rows)
    e.check_additivity(atol=1e-6)
    assert e.error is not None and np.all(e.error > 0)
    ratio = np.median(np.linalg.norm(e.values - truth, axis=1) / e.error)
    assert 0.3 <= ratio <= 3.0, f"actual/stated error ratio {ratio:.2f}"


def test_rows_per_coalition_must_be_positive(multiclass: Problem) -> None:
    with pytest.raises(ValueError, match="rows_per_coalition"):
        _kernel(multiclass, rows_per_coalition=0)
