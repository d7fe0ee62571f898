"""An explainer trained once to output Shapley values in one pass (FastSHAP's idea, linear form).

phi(x) = g(x) then corrected so that base + sum(phi) == f(x) exactly, with g linear in a fixed
basis of x: standardized x and random Fourier features of x, each also multiplied by the
explained output f(x) - base (f(x) is computed anyway for the exact correction, and the values
must add up to it); and each value phi_j also linear in its own feature's effects against a few
anchor rows (k-means centroids): f(x) less f at x with x_j from the anchor, and f at the anchor
with the anchor's j from x less f(anchor). Those are Shapley's marginal contributions of j when
it comes last and first over that one background row, cheap (2 x anchors x M evaluations, or a
product per support vector on an SVC's switch path) and close to phi_j where the basis is not.
g is fitted by ridge regression on unbiased Shapley labels: antithetic
permutation samples over the training rows as background, at a few permutations per row, for the
training rows and for synthetic rows interpolated between neighbours. For a fixed basis this is the
FastSHAP least-squares objective; label noise averages out over rows. The ridge penalty and the
feature length-scale are chosen by exact leave-one-out error on the labels.

Fidelity is measured at fit time on rows held out of g's training, against exact values or a
permutation reference averaged over two seeds, and goes into `fidelity_`, saved with the state; the
per-row error is calibrated on the same rows. Comparing other methods on those rows (model
selection) is not the explainer's business: `scoring.selection` does it, from `heldout_`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.background import Background, closest_summary, summarize
from scoring.errors import UnsupportedModelError, ValidationError
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.calibration import (
    Parts,
    actual_error,
    agreement,
    error_terms,
    fit_error_weights,
    median_scale,
    shift_rows,
    within_bound,
)
from scoring.explainers.permutation import permutation_shapley
from scoring.explainers.ridge import interpolate, leverage_factors, median_distance, ridge_loo
from scoring.explainers.sampler import check_distance
from scoring.explanation import Method, Space
from scoring.fidelity import (
    AUDIT_EVALUATIONS_PER_ROW,
    Reference,
    fidelity_figures,
    noise_floor,
    reference_values,
    relative_l2,
)
from scoring.walks import outputs_and_switches

# candidate ridge penalties and length-scales (multiples of the median distance between rows)
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
LENGTHSCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
# every row of the kept background summary is the mean of at least this many training rows
AUDIT_MIN_CLUSTER = 5
# the summary's grouping: standardized features weighted by relevance to each power, the one
# whose value function is closest to the training rows' kept (default SVC, 40 test rows: its
# Shapley values' median shift from those over every training row 0.083 unweighted, 0.052-0.097
# by power; the closest value function's grouping 0.054)
SUMMARY_POWERS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
# the error model's leverage is that of a ridge on the first this many Fourier features (the
# full basis' would cost (2L)^2 per row and output, several times g itself)
LEVERAGE_COMPONENTS = 48
# the sampled check of an out-of-range row: fewest and most antithetic permutations (measured on
# the bench's shifted rows: Spearman with the actual error 0.8-0.9 at 16, 0.83-0.97 at 64)
CHECK_PERMUTATIONS = (16, 64)
# model evaluations spent on the labels and on the held-out reference by default; a model whose
# walks are computed step by step (scoring.walks: a step costs about a seventh of an evaluation
# on built rows) gets WALK_FACTOR times more of both for less fit time. Default SVC, 80 test rows
# against a 2048x2-permutation reference, seeds 0-2: median rel. L2 0.173 -> 0.148, p90 0.46 ->
# 0.36, labels 4 s -> 17 s; the sharper reference calibrates the stated error better (its noise
# is removed from the held-out errors; actual / stated on 40 test rows 1.18 -> 1.06)
LABEL_EVALUATIONS = 2_000_000
REFERENCE_EVALUATIONS = 1_000_000
WALK_FACTOR = 4
# anchor rows (k-means centroids of the training rows): each value also regresses on its
# feature's effects against every anchor, the output change when the feature alone switches
# from x's value to the anchor's and from the anchor's to x's, 2 x anchors x M model evaluations
# a row. On an SVC's switch path ANCHORS (each costs about 10 us a row there; default SVC, 114
# test rows: median rel. L2 0.156 -> 0.091, p90 0.33 -> 0.19; 8 anchors 0.085 at twice the
# cost); on built rows as many as ANCHOR_EVALUATIONS a row allow, 1 to BUILT_ANCHORS (they share
# the row's own model call: wine MLP 0.134 -> 0.114 with 4, 0.088 with 8)
ANCHORS = 4
BUILT_ANCHORS = 8
ANCHOR_EVALUATIONS = 256


def evaluation_budget(given: int | None, default: int, *, walks: bool) -> int:
    """`given`, or `default` times WALK_FACTOR for a model with a walk path (times 1 without)."""
    if given is not None:
        return int(given)
    return default * (WALK_FACTOR if walks else 1)


@dataclass(frozen=True)
class Heldout:
    """The rows held out of g's fit and their reference values (kept in memory after `fit`, never
    saved: model selection measures other candidates on the same rows)."""

    rows: np.ndarray
    reference: Reference


class AmortizedExplainer(ScoringExplainer):
    """Shapley values from one forward pass of a fitted linear model plus one call of the model.

    The background is every fit row. Only a weighted k-means summary of it is kept
    (`audit_background_`: at most `audit_background` centroids, each the mean of at least
    AUDIT_MIN_CLUSTER training rows, never a training row itself), for auditing served values
    against a reference later (`scoring.audit`). The
    training rows (at most `max_rows` of them) and `n_synthetic` extra rows are labelled by
    as many permutation samples each as `label_evaluations` model evaluations allow (8 to 1024;
    None: LABEL_EVALUATIONS, WALK_FACTOR times as many for a model with a walk path);
    `n_components` random Fourier features make the basis; `anchors` anchor rows (None: ANCHORS
    on a switch path, else as many as ANCHOR_EVALUATIONS a row allow, 1 to BUILT_ANCHORS; 0: none)
    give each value its own feature's effects. `holdout` of the rows (at most
    `max_holdout`) are kept out of the fit to measure fidelity against a reference costing at most
    `reference_evaluations` model evaluations (None: REFERENCE_EVALUATIONS, times WALK_FACTOR as
    for the labels), and against the audit's reference over the summary
    (what a later audit should find, and how far the summary moves the values); `holdout=0`
    skips the measurement. After `fit`, `heldout_` holds those rows and their reference (None
    when none were held out, and after loading).
    The per-row error estimate (`stderr`) is the held-out RMSE of each feature's value. A row with
    a feature outside what training saw is checked by antithetic permutations over the summary
    (`_checked_variance`): as many as `check_evaluations` model evaluations allow, from
    CHECK_PERMUTATIONS[0] to CHECK_PERMUTATIONS[1].
    """

    method = Method.AMORTIZED

    def __init__(
        self,
        *,
        label_evaluations: int | None = None,
        max_rows: int = 1000,
        n_synthetic: int = 1000,
        n_components: int = 300,
        holdout: float = 0.2,
        max_holdout: int = 40,
        reference_evaluations: int | None = None,
        audit_background: int = 100,
        check_evaluations: int = 1024,
        anchors: int | None = None,
        seed: int = 0,
    ):
        self.label_evaluations = label_evaluations
        self.max_rows = max_rows
        self.n_synthetic = n_synthetic
        self.n_components = n_components
        self.holdout = holdout
        self.max_holdout = max_holdout
        self.reference_evaluations = reference_evaluations
        self.audit_background = audit_background
        self.check_evaluations = check_evaluations
        self.anchors = anchors
        self.seed = seed

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, X: np.ndarray) -> None:
        if X.dtype.kind not in "biuf":
            raise UnsupportedModelError(
                "the amortized method needs numeric columns; explain the engineered features or use 'kernel'"
            )
        if not 0.0 <= self.holdout < 1.0:
            raise ValidationError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.check_evaluations < 1:
            raise ValidationError(f"check_evaluations must be at least 1, got {self.check_evaluations}")
        started = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        f = self.output_
        n = len(X)
        n_hold = min(self.max_holdout, round(self.holdout * n))
        order = rng.permutation(n)
        held, train = X[order[:n_hold]], X[order[n_hold : n_hold + self.max_rows]]
        if len(train) < 2:
            raise ValidationError(f"the amortized method needs at least 2 training rows, got {len(train)}")

        f_background = f(X)
        self.expected_value_ = f_background.mean(axis=0)
        count = self._anchor_count(X.shape[1])
        self.anchors_ = summarize(X, count, seed=self.seed).rows if count else np.empty((0, X.shape[1]))
        self.anchor_outputs_ = self._anchor_outputs()
        inputs = np.vstack([train, interpolate(train, self.n_synthetic, rng)])
        f_inputs = f(inputs)
        per_row = self.label_budget() // (len(inputs) * max(1, X.shape[1] - 1))
        n_permutations = int(np.clip(per_row - per_row % 4, 8, 1024))
        # two independent halves: their mean is the label, their difference its noise
        halves = [
            permutation_shapley(
                f,
                inputs,
                X,
                n_permutations=n_permutations // 2,
                rng=rng,
                outputs=f_inputs,
                background_outputs=f_background,
            )
            for _ in range(2)
        ]
        labels = (halves[0] + halves[1]) / 2
        label_noise = ((halves[0] - halves[1]) / 2) ** 2
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        # features that move the values more get shorter length-scales (automatic relevance)
        relevance = np.sqrt((labels**2).mean(axis=(0, 2)))
        self.relevance_ = relevance / relevance.max() if relevance.max() > 0 else np.ones_like(relevance)
        self.audit_background_, summary_choice = self._summary(X)
        self.summary_outputs_ = f(self.audit_background_.rows)
        projection = rng.standard_normal((X.shape[1], self.n_components))
        self.phase_ = rng.uniform(0.0, 2 * np.pi, self.n_components)
        spread = median_distance(self._standardize(train) * self.relevance_, rng)
        loo = self._select(inputs, f_inputs, labels, projection, spread)
        self._fit_error_model(inputs, f_inputs, loo, label_noise)
        self.fit_info_: dict[str, Any] = {
            "training_rows": len(train),
            "synthetic_rows": int(self.n_synthetic),
            "permutations_per_row": n_permutations,
            "label_evaluations": int(len(inputs) * n_permutations * max(1, X.shape[1] - 1)),
            "lengthscale": self.lengthscale_,
            "alpha": self.alpha_,
            "summary": summary_choice,
        }
        self.fidelity_: dict[str, Any] = {}
        self.heldout_: Heldout | None = None
        if n_hold:
            self.fidelity_ = self._measure(X, held)
        self.fit_info_["fit_seconds"] = round(time.perf_counter() - started, 2)

    def _summary(self, X: np.ndarray) -> tuple[Background, dict[str, Any]]:
        """The background summary kept (`audit_background_`): of the groupings clustered with
        the standardized features weighted by relevance to each of SUMMARY_POWERS, the one whose
        value function is closest to the training rows' (`closest_summary`)."""
        candidates = [
            summarize(
                X,
                self.audit_background,
                seed=self.seed,
                min_cluster_size=AUDIT_MIN_CLUSTER,
                feature_weights=self.relevance_**power,
            )
            for power in SUMMARY_POWERS
        ]
        best, gaps = closest_summary(self.output_, X, candidates, seed=self.seed)
        choice = {
            "relevance_power": SUMMARY_POWERS[best],
            "value_gap": float(gaps[best]),
            "value_gap_unweighted": float(gaps[SUMMARY_POWERS.index(0.0)]),
        }
        return candidates[best], choice

    def _anchor_count(self, m: int) -> int:
        """Anchors: `anchors`, or ANCHORS on a switch path, else 1 to BUILT_ANCHORS within
        ANCHOR_EVALUATIONS a row."""
        if self.anchors is not None:
            if self.anchors < 0:
                raise ValidationError(f"anchors must be at least 0, got {self.anchors}")
            return int(self.anchors)
        if getattr(self.output_, "switch", None) is not None:
            return ANCHORS
        return int(np.clip(ANCHOR_EVALUATIONS // (2 * m), 1, BUILT_ANCHORS))

    def _anchor_outputs(self) -> np.ndarray:
        if len(self.anchors_) == 0:
            return np.empty((0, len(self.expected_value_)))
        return self.output_(self.anchors_)

    def _effects(self, X: np.ndarray, outputs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The outputs at X (`outputs`, or computed with the effects) and (n, M, K, 2 x anchors)
        each feature's effect against each anchor, with the feature switched last (x's output
        less x's with the anchor's value) and first (the anchor's output with x's value, less
        the anchor's)."""
        n, m = X.shape
        anchors = self.anchors_
        if len(anchors) == 0:
            outputs = self.output_(X) if outputs is None else outputs
            return outputs, np.zeros((n, m, outputs.shape[1], 0))
        outputs, switched = outputs_and_switches(self.output_, X, anchors, outputs=outputs)  # (n, R, 2, M, K)
        r = len(anchors)
        effects = np.empty((n, m, outputs.shape[1], 2 * r))
        effects[..., :r] = (outputs[:, None, None, :] - switched[:, :, 0]).transpose(0, 2, 3, 1)
        effects[..., r:] = (switched[:, :, 1] - self.anchor_outputs_[None, :, None, :]).transpose(0, 2, 3, 1)
        return outputs, effects

    def label_budget(self) -> int:
        """Model evaluations the labels may spend: `label_evaluations`, or by default
        LABEL_EVALUATIONS, times WALK_FACTOR when the model output has a walk path."""
        return self._budget(self.label_evaluations, LABEL_EVALUATIONS)

    def reference_budget(self) -> int:
        """Model evaluations the held-out reference may spend (as `label_budget`)."""
        return self._budget(self.reference_evaluations, REFERENCE_EVALUATIONS)

    def _budget(self, given: int | None, default: int) -> int:
        return evaluation_budget(given, default, walks=getattr(self.output_, "walk", None) is not None)

    def _select(
        self,
        inputs: np.ndarray,
        f_inputs: np.ndarray,
        labels: np.ndarray,
        projection: np.ndarray,
        spread: float,
    ) -> np.ndarray:
        """Fit g for each candidate length-scale and penalty; keep the lowest leave-one-out error.
        Returns the kept fit's leave-one-out residuals (n, M, K)."""
        delta = f_inputs - self.expected_value_
        _, effects = self._effects(inputs, f_inputs)
        best: tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray] | None = None
        for lengthscale in LENGTHSCALES:
            self.projection_ = projection / (lengthscale * spread)
            basis = self._basis(inputs)
            for alpha, coef, own, loo in ridge_loo(basis, delta, labels, ALPHAS, effects):
                score = float((loo**2).mean())
                if best is None or score < best[0]:
                    best = (score, lengthscale, alpha, coef, own, loo)
        assert best is not None
        _, self.lengthscale_, self.alpha_, self.coef_, self.effect_coef_, loo = best
        self.projection_ = projection / (self.lengthscale_ * spread)
        # the efficiency residual goes to each feature in proportion to its error variance
        variance = (loo**2).mean(axis=0)  # (M, K)
        total = variance.sum(axis=0, keepdims=True)
        uniform = np.full_like(variance, 1.0 / variance.shape[0])
        self.share_ = np.where(total > 0, variance / np.where(total > 0, total, 1.0), uniform)
        self.stderr_ = np.sqrt(variance)
        self._fold()
        # the kept ridge's predictive variance at a row, for the error model
        self.leverage_factors_ = leverage_factors(self._leverage_basis(inputs), delta, self.alpha_)
        fitted = self._leverage(inputs, delta)
        self.leverage_range_ = np.stack([np.median(fitted, axis=0), fitted.max(axis=0)])  # (2, K)
        return loo

    # -- the per-row error -----------------------------------------------------------------------
    def _fit_error_model(
        self, inputs: np.ndarray, f_inputs: np.ndarray, loo: np.ndarray, label_noise: np.ndarray
    ) -> None:
        """Weights of the error model (scoring.explainers.calibration) from the ridge's
        leave-one-out errors less the labels' noise; scales 1 until calibrated on held-out rows."""
        squared = (loo**2).sum(axis=1) - label_noise.sum(axis=1)  # (n, K)
        terms = self._terms(inputs, f_inputs)
        self.error_weights_, self.error_floor_ = fit_error_weights(terms, squared)
        self.error_scale_ = 1.0
        self.check_scale_ = 1.0
        self.summary_shift_ = float("nan")  # measured on held-out rows

    def _terms(self, X: np.ndarray | None, outputs: np.ndarray) -> np.ndarray:
        """The error model's terms at rows X with these outputs; X None: at the fit rows' median
        leverage. The leverage is capped at the fit rows' largest (the model is calibrated within
        that range; a row moved off it, e.g. an unseen category set to the mean, has its move's
        own term)."""
        delta = outputs - self.expected_value_
        if X is None:
            lev = np.broadcast_to(self.leverage_range_[0], outputs.shape)
        else:
            lev = np.minimum(self._leverage(X, delta), self.leverage_range_[1])
        return error_terms(outputs, self.expected_value_, self.space_ is Space.PROBABILITY, lev)

    def _leverage(self, X: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """(n, K) the ridge's leverage of rows X on `_leverage_basis` (compiled, row by row); a
        binary classifier's two probabilities are each other's mirror (delta_0 = -delta_1 flips
        the sign of half the design, which leaves leverage unchanged), so one output's serves
        both."""
        from scoring.explainers.amortized_kernel import leverage_rows

        mirrored = delta.shape[1] == 2 and self.space_ is Space.PROBABILITY
        outputs = np.array([1] if mirrored else range(delta.shape[1]), dtype=np.int64)
        _, _, wave_in, wave_offset, _ = self.folded_
        out = np.empty((len(X), len(outputs)))
        leverage_rows(
            np.ascontiguousarray(X, dtype=float),
            np.ascontiguousarray(delta, dtype=float),
            self.mean_,
            self.scale_,
            wave_in,
            wave_offset,
            self._leverage_components(),
            self.leverage_factors_,
            outputs,
            out,
        )
        return np.hstack([out, out]) if mirrored else out

    def _inside_error(self, X: np.ndarray | None, outputs: np.ndarray) -> np.ndarray:
        """(n, K) stated L2 error of the values of rows inside the training support."""
        terms = self._terms(X, outputs)  # (n, K, T)
        squared = terms[..., 0] * self.error_weights_[0]
        for t in range(1, terms.shape[-1]):  # term by term: a row's bits never depend on its batch
            squared += terms[..., t] * self.error_weights_[t]
        return self.error_scale_ * np.sqrt(np.maximum(squared, self.error_floor_))

    def _measure(self, X: np.ndarray, held: np.ndarray) -> dict[str, Any]:
        """Fidelity on the held-out rows against a reference over all fit rows (and over the
        audit summary); calibrates the per-row error on them."""
        f = self.output_
        reference = reference_values(f, held, X, max_evaluations=self.reference_budget())
        self.heldout_ = Heldout(held, reference)
        values, _, _ = self._explain(held)
        ours = fidelity_figures(values, reference)
        calibration = self._calibrate(X, held, values, reference)
        # the per-row error estimate: held-out RMSE per feature, less the reference's own noise
        mse = ((values - reference.values) ** 2).mean(axis=0) - (reference.noise**2).mean(axis=0)
        self.stderr_ = np.sqrt(np.maximum(mse, 0.0))
        summary = self.audit_background_
        audit = reference_values(
            f,
            held,
            summary.rows,
            weights=summary.weights,
            max_evaluations=AUDIT_EVALUATIONS_PER_ROW * len(held),
            seeds=(self.seed + 2, self.seed + 3),
        )
        audit_errors = relative_l2(values, audit.values)
        # how far the summary moves values, relative to g's stated error: refinement samples
        # over the summary, so this is its bias (median ratio, as the error's own calibration;
        # both references' sampling noise removed, or it would count as shift)
        self.summary_shift_ = median_scale(
            actual_error(audit.values, reference, audit.noise), self._inside_error(held, f(held))
        )
        calibration["summary_shift_scale"] = self.summary_shift_
        return {
            "reference": {**reference.describe(), "noise_floor": noise_floor(reference)},
            "calibration": calibration,
            "audit": {
                "background_rows": summary.size,
                "grouping": self.fit_info_["summary"],  # how the summary's rows were grouped
                "reference": audit.kind,
                "median_rel_l2": float(np.median(audit_errors)),
                "p90_rel_l2": float(np.quantile(audit_errors, 0.9)),
                "reference_noise_median": noise_floor(audit)["median_rel_l2"],
                # how far summarizing the background moves the values from the full reference
                "summary_shift_median_rel_l2": float(np.median(relative_l2(audit.values, reference.values))),
            },
            "amortized": {**ours, "evaluations_per_row": 1},
        }

    def _calibrate(
        self, X: np.ndarray, held: np.ndarray, values: np.ndarray, reference: Any
    ) -> dict[str, Any]:
        """Scale the stated error to the held-out rows' actual one (median ratio 1), then the
        sampled check's term to held-out rows moved outside the training range; the agreement of
        both."""
        f = self.output_
        outputs = f(held)
        actual = actual_error(values, reference)
        # the held-out rows' actual errors are the better target than the labels' (noisy) ones
        weights, floor = fit_error_weights(self._terms(held, outputs), actual**2)
        if weights[1:].any():
            self.error_weights_, self.error_floor_ = weights, floor
        self.error_scale_ = 1.0
        self.error_scale_ = median_scale(actual, self._inside_error(held, outputs))
        held_out = agreement(self._inside_error(held, outputs), actual)
        assert self.support_ is not None
        shifted = shift_rows(held, self.support_, np.random.default_rng(self.seed + 5))
        shifted_reference = reference_values(
            f,
            shifted,
            X,
            max_evaluations=max(1, self.reference_budget() // 2),
            seeds=(self.seed + 6, self.seed + 7),
        )
        outside = self.support_.outside(shifted)
        values, _, inside, _, distance, _ = self._checked(shifted, outside)
        shifted_actual = actual_error(values, shifted_reference)
        checked = np.sqrt(inside**2 + np.maximum(distance, 0.0))
        self.check_scale_ = median_scale(shifted_actual, checked)
        stated = self.check_scale_ * checked  # as `_checked_variance` states it
        return {
            "error_scale": self.error_scale_,
            "check_scale": self.check_scale_,
            "held_out": held_out,
            "shifted": {**agreement(stated, shifted_actual), "reference": shifted_reference.kind},
        }

    # -- the map x -> g(x) ---------------------------------------------------------------------
    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=float) - self.mean_) / self.scale_

    def _basis(self, X: np.ndarray) -> np.ndarray:
        """(n, L): 1, standardized x, and random Fourier features of relevance-weighted x."""
        z = self._standardize(X)
        return self._stacked(z, np.cos((z * self.relevance_) @ self.projection_ + self.phase_))

    def _leverage_components(self) -> int:
        return min(LEVERAGE_COMPONENTS, self.n_components)

    def _leverage_basis(self, X: np.ndarray) -> np.ndarray:
        """(n, L'): the error model's leverage basis, `_basis` with only its first
        LEVERAGE_COMPONENTS Fourier features, as g computes them (`folded_`)."""
        c = self._leverage_components()
        _, _, wave_in, wave_offset, _ = self.folded_
        waves = np.cos(np.asarray(X, dtype=float) @ wave_in[:, :c] + wave_offset[:c])
        return self._stacked(self._standardize(X), waves)

    @staticmethod
    def _stacked(z: np.ndarray, waves: np.ndarray) -> np.ndarray:
        n, m = z.shape
        c = waves.shape[1]
        basis = np.empty((n, 1 + m + c))
        basis[:, 0] = 1.0
        basis[:, 1 : 1 + m] = z
        np.multiply(np.sqrt(2.0 / c), waves, out=basis[:, 1 + m :])
        return basis

    def _fold(self) -> None:
        self.folded_ = self._folded(self.coef_)

    def _folded(self, coef: np.ndarray) -> tuple[np.ndarray, ...]:
        """Fold standardization, relevance and both halves of `coef` into the matrices g uses:
        g(x) = x A + a + cos(x P + p) C, read as (plain, scaled) x M x K, scaled times f(x) - base."""
        k, two_l, m = coef.shape
        n_basis = two_l // 2
        w = coef.reshape(k, 2, n_basis, m).transpose(2, 1, 3, 0).reshape(n_basis, 2 * m * k)
        linear = w[1 : 1 + m] / self.scale_[:, None]
        intercept = w[0] - self.mean_ @ linear
        wave_in = (self.relevance_ / self.scale_)[:, None] * self.projection_
        wave_offset = self.phase_ - self.mean_ @ wave_in
        wave_out = np.sqrt(2.0 / self.n_components) * w[1 + m :]
        return tuple(np.ascontiguousarray(a) for a in (linear, intercept, wave_in, wave_offset, wave_out))

    def _compile(self) -> None:
        """Compile g's and the leverage's loops now (about a second, once a process), not on the
        first request, whose deadline it would eat."""
        m, k = self.share_.shape
        row = self.mean_[None, :].astype(float)
        delta = np.zeros((1, k))
        self._g(row, delta, np.zeros((1, m, k, self.effect_coef_.shape[-1])))
        self._leverage(row, delta)

    def _g(self, X: np.ndarray, delta: np.ndarray, effects: np.ndarray) -> np.ndarray:
        """(n, M, K) uncorrected values: g's basis terms (`_folded`), plus each value's
        regression on its feature's effects against the anchors (`_effects`); compiled, row by
        row, bit for bit (scoring.explainers.amortized_kernel)."""
        from scoring.explainers.amortized_kernel import g_rows  # numba: only when explaining

        linear, intercept, wave_in, wave_offset, wave_out = self.folded_
        values = np.empty((len(X), *self.share_.shape))
        g_rows(
            np.ascontiguousarray(X, dtype=float),
            np.ascontiguousarray(delta, dtype=float),
            np.ascontiguousarray(effects, dtype=float),
            linear,
            intercept,
            wave_in,
            wave_offset,
            wave_out,
            self.effect_coef_,
            values,
        )
        return values

    def _explain(
        self, X: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._explain_flagged(X, np.zeros(X.shape, dtype=bool), outputs)

    def _profile(self) -> np.ndarray:
        """(M, K) each feature's share of the stated error (held-out RMSE per feature, unit L2);
        worked out once for each `stderr_` (fit sets it twice, loading once)."""
        stderr = self.stderr_
        cached = self.__dict__.get("_profile_of")
        if cached is not None and cached[0] is stderr:
            return cached[1]
        norm = np.sqrt((stderr**2).sum(axis=0, keepdims=True))
        profile = np.where(norm > 0, stderr / np.where(norm > 0, norm, 1.0), 1.0 / np.sqrt(stderr.shape[0]))
        self._profile_of = (stderr, profile)
        return profile

    def inside_variance(self, outputs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, M, K) the error model's variance at `rows` with these outputs, as if inside the
        support (what a background summary's shift scales with; not a move's own error); without
        rows, at the fit rows' median leverage."""
        return self._spread(self._inside_error(rows, outputs))

    def _spread(self, error: np.ndarray) -> np.ndarray:
        """(n, M, K) a stated L2 error (n, K) as variance per feature, by the held-out profile."""
        return (error[:, None, :] * self._profile()[None]) ** 2

    def _explain_flagged(
        self, X: np.ndarray, outside: np.ndarray, outputs: np.ndarray | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        flagged = np.asarray(outside, dtype=bool).any(axis=1)
        if not flagged.any():
            return self._explain_inside(X, outputs)
        if not check:  # the caller refines the flagged rows and states their error from that
            values, outputs, inside, lost = self._bounded(X, outside, outputs)
            return values, outputs, np.sqrt(self._spread(inside) + lost**2)
        values, outputs, inside, lost, distance, squares = self._checked(X, outside, outputs)
        variance = self._spread(inside) + lost**2
        # the check measured the bounded values: what the bound moved is in its distance
        variance[flagged] = self._checked_variance(inside[flagged], distance[flagged], squares[flagged])
        return values, outputs, np.sqrt(variance)

    def _explain_inside(
        self, X: np.ndarray, outputs: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_explain_flagged` when no row is flagged: g at the rows, made efficient, within the
        bound; the same arithmetic as `_parts` with nothing moved, without its moves' terms."""
        outputs, effects = self._effects(X, outputs)
        delta = outputs - self.expected_value_
        values = self._g(X, delta, effects)
        values += (delta - values.sum(axis=1))[:, None, :] * self.share_[None, :, :]
        values += 0.0  # as `_parts` adds its (zero) move terms: a -0.0 becomes 0.0
        lost = np.zeros_like(values)
        if self.space_ is Space.PROBABILITY:
            values, lost = within_bound(values, delta, bound=1.0)
        variance = self._spread(self._inside_error(X, outputs)) + lost**2
        return values, outputs, np.sqrt(variance)

    def _bounded(
        self, X: np.ndarray, outside: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Values within what a Shapley value can be, the outputs, g's stated error (n, K) at
        the rows moved inside the support, and how far the bound moved each value (n, M, K)."""
        parts = self._parts(X, outside, outputs)
        values, lost = parts.values, np.zeros_like(parts.values)
        if self.space_ is Space.PROBABILITY:
            values, lost = within_bound(values, parts.outputs - self.expected_value_, bound=1.0)
        return values, parts.outputs, parts.inside, lost

    def _checked(
        self, X: np.ndarray, outside: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`_bounded`'s four parts, and for the flagged rows the sampled check of the values
        (`check_distance`: (n, K) squared distance, (n, M, K) per feature; zero for the other
        rows)."""
        values, outputs, inside, lost = self._bounded(X, outside, outputs)
        distance, squares = np.zeros(outputs.shape), np.zeros(values.shape)
        flagged = np.asarray(outside, dtype=bool).any(axis=1)
        if flagged.any():
            distance[flagged], squares[flagged] = check_distance(
                self.output_,
                self.audit_background_,
                X[flagged],
                outputs[flagged],
                values[flagged],
                n_permutations=self.check_permutations_,
                seed=self.seed,
                summary_outputs=self.summary_outputs_,
            )
        return values, outputs, inside, lost, distance, squares

    def _checked_variance(self, inside: np.ndarray, distance: np.ndarray, squares: np.ndarray) -> np.ndarray:
        """(n, M, K) stated variance of a flagged row's values. Off the training data g's error
        model is a guess (it ranks such rows poorly), so the row is checked: a short sampled
        estimate over the summary gives an unbiased estimate of the squared distance from the
        values to the Shapley values (`distance`), added in quadrature to g's error at the moved
        row, all scaled by `check_scale_` (the median of actual / stated on held-out rows moved
        outside the range at fit time); it is shared out over the features by their squared
        differences to the sampled values."""
        total = self.check_scale_**2 * (inside**2 + np.maximum(distance, 0.0))  # (n, K)
        norm = squares.sum(axis=1, keepdims=True)
        profile = np.broadcast_to(self._profile()[None] ** 2, squares.shape)
        share = np.divide(squares, norm, out=profile.copy(), where=norm > 0)
        return total[:, None, :] * share

    def _parts(self, X: np.ndarray, outside: np.ndarray, outputs: np.ndarray | None = None) -> Parts:
        """Values of rows moved into the training support (a value beyond the range clipped to
        it, another flagged value set to the training mean): g at the moved row, exactly
        efficient there, plus the output change the move caused, given to the moved features in
        proportion to how far (in standard deviations) each was moved."""
        f = self.output_
        X = np.asarray(X, dtype=float)
        clipped = X if self.support_ is None else self.support_.clip(X)
        inside = np.where(outside, np.where(clipped != X, clipped, self.mean_[None, :]), X)
        moved = (inside != X).any(axis=1)
        outputs = f(X) if outputs is None else outputs
        inside_outputs = outputs.copy()
        if moved.any():
            inside_outputs[moved] = f(inside[moved])
        delta = inside_outputs - self.expected_value_
        values = self._g(inside, delta, self._effects(inside, inside_outputs)[1])
        residual = delta - values.sum(axis=1)  # (n, K)
        values += residual[:, None, :] * self.share_[None, :, :]
        distance = np.abs(X - inside) / self.scale_
        total = distance.sum(axis=1, keepdims=True)
        weight = np.divide(distance, total, out=np.zeros_like(distance), where=total > 0)
        # the move's effect on the output with the moved features last (x's own output change)
        # and first (over the background summary); Shapley values average over positions, so the
        # moved features get the mean of both and the rest of the change goes to the others
        last = outputs - inside_outputs
        first = last.copy()
        if moved.any():
            first[moved] = self._first_effect(X[moved], inside[moved])
        own = (first + last) / 2
        values += weight[:, :, None] * own[:, None, :]
        values += self.share_[None, :, :] * (last - own)[:, None, :]
        return Parts(values, outputs, self._inside_error(inside, inside_outputs))

    def _first_effect(self, X: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """(n, K): the mean output change, over the background summary, when only the moved
        features go from their moved-inside values to the row's own (2 x summary evaluations)."""
        summary = self.audit_background_
        changed = X != inside  # (n, M)
        rows = np.broadcast_to(summary.rows, (len(X), *summary.rows.shape))
        at_x = np.where(changed[:, None, :], X[:, None, :], rows)
        at_inside = np.where(changed[:, None, :], inside[:, None, :], rows)
        m = X.shape[1]
        out = self.output_(np.concatenate([at_x.reshape(-1, m), at_inside.reshape(-1, m)]))
        out = out.reshape(2, len(X), summary.size, -1)
        return np.einsum("b,nbk->nk", summary.weights, out[0] - out[1])

    @property
    def check_permutations_(self) -> int:
        """Antithetic permutations of the sampled check of an out-of-range row (even)."""
        per_row = self.check_evaluations // max(1, len(self.feature_names_in_) - 1)
        return int(np.clip(per_row - per_row % 2, *CHECK_PERMUTATIONS))

    # -- state ---------------------------------------------------------------------------------
    def _extra_config(self) -> dict[str, Any]:
        return {"fidelity": self.fidelity_, "fit_info": self.fit_info_}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean_,
            "scale": self.scale_,
            "relevance": self.relevance_,
            "projection": self.projection_,
            "phase": self.phase_,
            "coef": self.coef_,
            "anchors": self.anchors_,
            "effect_coef": self.effect_coef_,
            "share": self.share_,
            "stderr": self.stderr_,
            "error_weights": self.error_weights_,
            "leverage_factors": self.leverage_factors_,
            "leverage_range": self.leverage_range_,
            # the middle slot held an older, unused scale; the check's is its own array
            "error_model": np.array([self.error_scale_, 0.0, self.error_floor_]),
            "check_scale": np.array(self.check_scale_),
            "summary_shift": np.array(self.summary_shift_),
            "audit_rows": self.audit_background_.rows,
            "audit_weights": self.audit_background_.weights,
        }

    def _restore(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.mean_ = arrays["mean"]
        self.scale_ = arrays["scale"]
        self.relevance_ = arrays["relevance"]
        self.projection_ = arrays["projection"]
        self.phase_ = arrays["phase"]
        self.coef_ = arrays["coef"]
        # a state saved before anchors has none (its values are g's shared design alone)
        self.anchors_ = arrays.get("anchors", np.empty((0, len(self.mean_))))
        self.effect_coef_ = arrays.get("effect_coef", np.zeros((*arrays["share"].shape, 0)))
        self.share_ = arrays["share"]
        self.stderr_ = arrays["stderr"]
        self.error_weights_ = arrays["error_weights"]
        self.leverage_factors_ = arrays["leverage_factors"]
        self.leverage_range_ = arrays["leverage_range"]
        self.error_scale_, _, self.error_floor_ = (float(v) for v in arrays["error_model"])
        self.check_scale_ = float(arrays.get("check_scale", 1.0))
        self.audit_background_ = Background(arrays["audit_rows"], arrays["audit_weights"])
        self.summary_outputs_ = self.output_(self.audit_background_.rows)  # derived, not saved
        self.anchor_outputs_ = self._anchor_outputs()
        # the walk path (scoring.walks) is proven and compiled here, at load: on the first
        # request that samples, its second of compiling would eat a refinement's deadline
        _ = self.output_.walk
        self._fold()
        self._compile()
        self.summary_shift_ = float(arrays["summary_shift"])
        self.fidelity_ = extra.get("fidelity", {})
        self.fit_info_ = extra.get("fit_info", {})
        self.heldout_ = None
        self.lengthscale_ = float(self.fit_info_.get("lengthscale", np.nan))
        self.alpha_ = float(self.fit_info_.get("alpha", np.nan))
