"""Refinement within a deadline: amortized values made more accurate by model evaluations.

For a row x the amortized explainer gives g(x), values over every training row, with a stated
error. Refinement samples Shapley values of the same row over the background summary the
explainer keeps (antithetic permutations, background rows dealt in proportion to their weights,
and a per-feature regression control variate on x_j - b_j whose mean over the summary is known),
and moves g(x) towards them by their precision:

    refined = g(x) + lambda (sampled(x) - g(x)),   lambda = a / (a + s + b)

with a g's stated squared error (its calibrated per-row error), s the sampling variance (from the
spread of antithetic pairs) and b the squared shift the summary causes (the summary's values
differ from those over every training row; on held-out rows at fit time that shift measured a
multiple of g's stated error, and b is that multiple squared times g's error model at the row's
own output). The amortized values are the prior each evaluation improves on, so a small budget
never makes a row worse than g, and the stated error after refinement combines both parts.
Sampling runs in rounds, each doubling the permutations, until every row's stated error is at
most `precision`, its evaluations reach `max_evaluations`, or the time left (`max_ms` per row)
is spent: the last round takes what fits at the rate measured so far.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from scoring.errors import ValidationError
from scoring.explainers.amortized import AmortizedExplainer
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.calibration import within_bound
from scoring.explainers.sampler import SummarySampler
from scoring.explanation import Explanation, Space

FIRST_ROUND = 8  # permutations per row in the first round; each later round doubles the total
# permutations per row at most (a budget in time alone stops there; the default SVC reaches it
# in about 200 ms a row)
MAX_PERMUTATIONS = 16384
# the default refinement: rows out of range, or stated this many times the fit-time median
DEFAULT_FACTOR = 3.0
DEFAULT_MAX_MS = 20.0


@dataclass(frozen=True)
class Budget:
    """How much refinement may spend: `max_ms` wall-clock milliseconds per refined row, a target
    `precision` (stated L2 error of every output), `max_evaluations` model evaluations per row.
    At least one of `max_ms` and `max_evaluations` bounds the work."""

    max_ms: float | None = None
    precision: float | None = None
    max_evaluations: int | None = None

    def __post_init__(self) -> None:
        if self.max_ms is None and self.max_evaluations is None:
            raise ValidationError("a refinement budget needs max_ms or max_evaluations", field="max_ms")
        for name in ("max_ms", "precision", "max_evaluations"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValidationError(f"expected a finite number >= 0, got {value!r}", field=name)


def can_refine(explainer: ScoringExplainer) -> bool:
    """Whether `refine` can improve this explainer's values (amortized, calibrated at fit)."""
    shift = getattr(explainer, "summary_shift_", np.nan)
    return isinstance(explainer, AmortizedExplainer) and bool(np.isfinite(shift))


def typical_error(explainer: ScoringExplainer) -> float | None:
    """The fit-time median stated error on held-out rows, if it was measured."""
    fidelity = getattr(explainer, "fidelity_", {}) or {}
    try:
        return float(fidelity["calibration"]["held_out"]["median_stated"])
    except (KeyError, TypeError):
        return None


def replaces_checks(explainer: ScoringExplainer, budget: Budget | None) -> bool:
    """Whether refining within `budget` replaces every flagged row's stated error (so the
    explainer's own sampled check of those rows would be spent for nothing): the explainer can
    be refined and the budget buys at least the first round. `refine` takes every flagged row,
    under the default budget (`needs_refinement`) as under a request's."""
    if budget is None or not can_refine(explainer):
        return False
    if budget.max_ms is not None and budget.max_ms <= 0:
        return False
    first = FIRST_ROUND * max(1, len(explainer.output_.columns.names) - 1)
    return budget.max_evaluations is None or budget.max_evaluations >= first


def needs_refinement(
    explainer: ScoringExplainer, explanation: Explanation, factor: float = DEFAULT_FACTOR
) -> np.ndarray:
    """(n,) rows the default refinement takes: a feature outside what training saw, or a stated
    error above `factor` times the fit-time median."""
    n = explanation.n_rows
    if not can_refine(explainer):
        return np.zeros(n, dtype=bool)
    rows: np.ndarray = np.zeros(n, dtype=bool)
    if explanation.outside is not None:
        rows = np.asarray(explanation.outside.any(axis=1), dtype=bool)
    typical = typical_error(explainer)
    if typical is not None and explanation.error is not None:
        rows |= explanation.error.max(axis=1) > factor * typical
    return rows


def refine(
    explainer: ScoringExplainer,
    explanation: Explanation,
    budget: Budget,
    *,
    rows: np.ndarray | None = None,
    seed: int = 0,
) -> Explanation:
    """`explanation` (of `explainer`, in its own columns, with `data`) with the chosen rows
    (default all) refined within `budget`; `evaluations` counts what each row spent."""
    n = explanation.n_rows
    spent = np.zeros(n, dtype=np.int64)
    chosen = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    if not can_refine(explainer) or not chosen.any() or explanation.data is None:
        return replace(explanation, evaluations=spent if can_refine(explainer) else None)
    assert isinstance(explainer, AmortizedExplainer) and explanation.stderr is not None
    idx = np.flatnonzero(chosen)
    X = np.asarray(explanation.data[idx], dtype=float)
    sampler = SummarySampler(
        explainer.output_,
        explainer.audit_background_,
        X,
        np.random.default_rng(seed),
        summary_outputs=explainer.summary_outputs_,
    )
    prior = explanation.values[idx]
    prior_var = explanation.stderr[idx] ** 2
    bias = explainer.summary_shift_**2 * explainer.inside_variance(explanation.outputs[idx])
    # a row outside the training support: g's values are on thin ice (their checked error is
    # several times a refined row's), so the sampled values replace them instead of being blended
    # in (blending, measured on the bench's shifted rows, changed neither accuracy nor ranking
    # beyond noise)
    trust = np.ones((len(idx), 1, 1))
    if explanation.outside is not None:
        trust[explanation.outside[idx].any(axis=1)] = 0.0
    started = time.perf_counter()
    deadline = None if budget.max_ms is None else budget.max_ms * len(idx) / 1000.0
    values, variance = prior, prior_var
    while True:
        per_row = sampler.permutations * max(1, X.shape[1] - 1)
        step = max(FIRST_ROUND, sampler.permutations)
        if (
            budget.max_evaluations is not None
            and per_row + step * max(1, X.shape[1] - 1) > budget.max_evaluations
        ):
            break
        if sampler.permutations + step > MAX_PERMUTATIONS:
            break
        if deadline is not None:
            elapsed = time.perf_counter() - started
            if sampler.permutations:
                # the last round takes what time is left (at the rate measured so far)
                fits = int((deadline - elapsed) / elapsed * sampler.permutations)
                step = min(step, fits - fits % 2)
                if step < 2:
                    break
            elif deadline <= 0:
                break
        sampler.run(step)
        values, variance = _combine(prior, prior_var, bias, trust, *sampler.estimate())
        if budget.precision is not None:
            if (np.sqrt(variance.sum(axis=1)) <= budget.precision).all():
                break
    spent[idx] = sampler.permutations * max(1, X.shape[1] - 1) + sampler.extra_evaluations
    all_values = explanation.values.copy()
    all_stderr = explanation.stderr.copy()
    delta = explanation.outputs[idx] - explanation.base_values[None, :]
    values = _efficient(values, variance, delta)
    if explanation.space is Space.PROBABILITY:
        values, lost = within_bound(values, delta, bound=1.0)
        variance = variance + lost**2
    all_values[idx], all_stderr[idx] = values, np.sqrt(variance)
    return replace(explanation, values=all_values, stderr=all_stderr, evaluations=spent)


def _combine(
    prior: np.ndarray,
    prior_var: np.ndarray,
    bias: np.ndarray,
    trust: np.ndarray,
    sampled: np.ndarray,
    sampled_var: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """g + lambda (sampled - g) per (row, output), and its stated variance per feature. The
    sampled values are over the summary: their error is the sampling variance plus `bias`, the
    squared shift the summary causes. Rows with `trust` 0 take the sampled values alone."""
    a = prior_var.sum(axis=1, keepdims=True)  # (n, 1, K)
    s = (sampled_var + bias).sum(axis=1, keepdims=True)
    lam = np.where(trust > 0, a / np.maximum(a + s, np.finfo(float).tiny), 1.0)
    values = prior + lam * (sampled - prior)
    variance = (1 - lam) ** 2 * prior_var + lam**2 * (sampled_var + bias)
    return values, variance


def _efficient(values: np.ndarray, variance: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Values that add up to delta exactly: the gap goes to each feature by its variance."""
    gap = delta - values.sum(axis=1)
    total = variance.sum(axis=1, keepdims=True)
    share = np.divide(variance, total, out=np.full_like(variance, 1.0 / values.shape[1]), where=total > 0)
    return values + share * gap[:, None, :]
