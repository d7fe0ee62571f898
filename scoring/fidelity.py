"""How close attributions are to a reference: the reference itself, the figures, and the choice
between an amortized and a sampled explainer that they drive.

The reference is the interventional Shapley value over a background of real rows: exact by
enumeration when 2^M coalitions are affordable, else antithetic permutation sampling averaged over
two seeds, whose disagreement gives the noise floor of the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring.background import Background
from scoring.explainers.coalitions import all_masks, coalition_values, exact_shapley
from scoring.explainers.permutation import permutation_shapley
from scoring.explanation import Method

TOP_K = 5
# model evaluations an audit's reference spends per row (the service's AUDIT_EVALUATIONS default)
AUDIT_EVALUATIONS_PER_ROW = 25_000
# `auto` never serves by default a method that costs more than this to explain one row
MAX_ONLINE_SECONDS_PER_ROW = 0.05
# below this many permutations per seed a reference is too noisy to measure anything against
MIN_REFERENCE_PERMUTATIONS = 64


@dataclass(frozen=True)
class Reference:
    """Reference values (n, M, K), an estimate of their error of the same shape (zero when exact),
    and how they were made."""

    values: np.ndarray
    noise: np.ndarray
    kind: str
    evaluations_per_row: int

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": int(self.values.shape[0]),
            "evaluations_per_row": self.evaluations_per_row,
        }


def reference_values(
    f: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    *,
    max_evaluations: int,
    seeds: tuple[int, int] = (0, 1),
    weights: np.ndarray | None = None,
) -> Reference:
    """Shapley values of f at the rows of X over the `background` rows (uniform, or `weights`).

    Exact when 2^M x background x rows fits in `max_evaluations`; else permutation sampling with
    as many permutations as fit, run once per seed and averaged. The error of the average is
    estimated by half the difference of the two runs.
    """
    n, m = X.shape
    b = len(background)
    if 2**m * b * n <= max_evaluations:
        bg = Background(
            np.asarray(background, dtype=float), np.full(b, 1.0 / b) if weights is None else weights
        )
        v = coalition_values(f, np.asarray(X, dtype=float), all_masks(m), bg)
        values = exact_shapley(v, m)
        return Reference(values, np.zeros_like(values), "exact", 2**m * b)
    per_seed = max_evaluations // (len(seeds) * n * max(1, m - 1))
    n_perm = max(MIN_REFERENCE_PERMUTATIONS, per_seed - per_seed % 2)
    fx, fb = f(X), f(background)
    runs = [
        permutation_shapley(
            f,
            X,
            background,
            n_permutations=n_perm,
            rng=np.random.default_rng(seed),
            outputs=fx,
            background_outputs=fb,
            weights=weights,
        )
        for seed in seeds
    ]
    noise = (runs[0] - runs[1]) / 2
    evals = len(seeds) * n_perm * max(1, m - 1)
    return Reference((runs[0] + runs[1]) / 2, noise, f"permutation x{n_perm} x{len(seeds)} seeds", evals)


def _row_norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt((a**2).reshape(len(a), -1).sum(axis=1))


def relative_l2(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per row: ||values - reference|| / ||reference|| over every feature and output."""
    scale = np.maximum(_row_norm(reference), np.finfo(float).tiny)
    return _row_norm(values - reference) / scale


def fidelity_figures(values: np.ndarray, reference: Reference) -> dict[str, float]:
    """Agreement of `values` (n, M, K) with the reference, as plain floats.

    - median / p90 relative L2 error per row (over features and outputs), raw and with the
      reference's own noise removed in quadrature (`*_denoised`);
    - the largest absolute error of any value;
    - top-1: share of (row, output) pairs whose largest |value| is the same feature;
    - top-5: mean overlap of the five largest |value| features (of min(5, M));
    - sign: agreement of signs, weighted by the reference's |value| (so that features whose
      true value is about zero do not count as coin flips).
    """
    ref = reference.values
    err = relative_l2(values, ref)
    denoised = denoise(err, relative_noise(reference))
    a = np.moveaxis(np.abs(values), 1, -1).reshape(-1, values.shape[1])  # (n*K, M)
    r = np.moveaxis(np.abs(ref), 1, -1).reshape(-1, ref.shape[1])
    k = min(TOP_K, ref.shape[1])
    top_a = np.argsort(-a, axis=1, kind="stable")[:, :k]
    top_r = np.argsort(-r, axis=1, kind="stable")[:, :k]
    overlap = [len(set(p) & set(q)) / k for p, q in zip(top_a, top_r, strict=True)]
    same_sign = np.sign(values) == np.sign(ref)
    weight = np.abs(ref)
    return {
        "rows": len(err),
        "median_rel_l2": float(np.median(err)),
        "p90_rel_l2": float(np.quantile(err, 0.9)),
        "median_rel_l2_denoised": float(np.median(denoised)),
        "p90_rel_l2_denoised": float(np.quantile(denoised, 0.9)),
        "max_abs_error": float(np.max(np.abs(values - ref))),
        "top1_agreement": float(np.mean(top_a[:, 0] == top_r[:, 0])),
        "top5_agreement": float(np.mean(overlap)),
        "sign_agreement": float((weight * same_sign).sum() / max(weight.sum(), np.finfo(float).tiny)),
    }


def relative_noise(reference: Reference) -> np.ndarray:
    """Per row: the reference's own error estimate, relative L2 like `relative_l2` (zero when exact)."""
    return _row_norm(reference.noise) / np.maximum(_row_norm(reference.values), np.finfo(float).tiny)


def denoise(errors: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Errors with the reference's noise removed in quadrature (never below zero)."""
    return np.sqrt(np.maximum(errors**2 - noise**2, 0.0))


def noise_floor(reference: Reference) -> dict[str, float]:
    """The reference's own error, as relative L2 per row (zero for an exact reference)."""
    noise = relative_noise(reference)
    return {"median_rel_l2": float(np.median(noise)), "p90_rel_l2": float(np.quantile(noise, 0.9))}


def choose_black_box(
    fidelity: dict[str, Any],
    *,
    tolerance: float = 0.05,
    max_seconds_per_row: float = MAX_ONLINE_SECONDS_PER_ROW,
) -> tuple[Method, str]:
    """`auto` for a black-box model: amortized when its measured median relative L2 error is
    within `tolerance` (absolute) of the kernel method's on the same held-out rows; else kernel,
    unless kernel costs more than `max_seconds_per_row` to explain one row (measured at fit
    time): a default that cannot answer online is no default, so amortized stays, its error
    stated per row and refinable within a per-request budget.

    `fidelity` is an amortized explainer's `fidelity_` (figures under "amortized" and "kernel").
    Returns the method and a one-line reason to record, with both errors and costs per row.
    """
    try:
        ours = float(fidelity["amortized"]["median_rel_l2"])
        kernel = float(fidelity["kernel"]["median_rel_l2"])
    except (KeyError, TypeError):
        return Method.KERNEL, "no fidelity measured for the amortized explainer: kernel"
    ours_s = fidelity["amortized"].get("seconds_per_row")
    kernel_s = fidelity["kernel"].get("seconds_per_row")
    cost = ""
    if ours_s is not None and kernel_s is not None:
        cost = f" ({1000 * float(ours_s):.2f} vs {1000 * float(kernel_s):.1f} ms per row)"
    verdict = f"amortized median rel. L2 {ours:.3f} vs kernel {kernel:.3f}{cost} (tolerance {tolerance:.3f})"
    if ours <= kernel + tolerance:
        return Method.AMORTIZED, f"{verdict}: amortized is within tolerance"
    if kernel_s is not None and float(kernel_s) > max_seconds_per_row:
        return Method.AMORTIZED, (
            f"{verdict}: kernel is more accurate but costs more than {1000 * max_seconds_per_row:.0f} ms "
            "per row online; amortized, with its per-row error stated and refinable (max_ms)"
        )
    return Method.KERNEL, f"{verdict}: amortized is not within tolerance, kernel"
