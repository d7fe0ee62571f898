"""Model selection for `auto` on a black box: the candidates (amortized, kernel) fitted, measured and
timed on the same held-out rows, in one place outside the explainer classes.

The amortized explainer measures its own accuracy on rows it held out of its fit (its per-row error
is calibrated on them, so that is part of fitting it); here the kernel candidate is fitted over the
same background rows, its values on those held-out rows scored against the same reference, and both
candidates timed explaining them as served (rows in, `explain` out). `choose_black_box`
(scoring.fidelity) then decides from the figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scoring.explainers.amortized import AmortizedExplainer
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.kernel import KernelExplainer
from scoring.fidelity import fidelity_figures

# the amortized explainer is timed this many times (it is cheap) and the fastest kept
AMORTIZED_TIMINGS = 3


@dataclass(frozen=True)
class Measured:
    """Both candidates fitted over the same rows, and their figures on the same held-out rows:
    the amortized explainer's `fidelity_` with "seconds_per_row" added under "amortized", and the
    kernel's figures under "kernel" (empty when the amortized explainer held no rows out)."""

    amortized: AmortizedExplainer
    kernel: KernelExplainer
    figures: dict[str, Any]


def measure_black_box(
    amortized: AmortizedExplainer,
    kernel: KernelExplainer,
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> Measured:
    """Fit both unfitted candidates on background rows `X` and measure them side by side."""
    amortized.fit(model, X, feature_names=feature_names, class_names=class_names)
    kernel.fit(model, X, feature_names=feature_names, class_names=class_names)
    held = amortized.heldout_
    if held is None:
        return Measured(amortized, kernel, dict(amortized.fidelity_))
    rows = amortized.output_.columns.to_model(held.rows)
    ours = min(_seconds(amortized, rows) for _ in range(AMORTIZED_TIMINGS))
    started = time.perf_counter()
    kernel_values = kernel.explain(rows).values
    kernel_seconds = (time.perf_counter() - started) / len(held.rows)
    figures = dict(amortized.fidelity_)
    figures["amortized"] = {**figures["amortized"], "seconds_per_row": ours}
    figures["kernel"] = {
        **fidelity_figures(kernel_values, held.reference),
        "params": kernel.get_params(),
        "evaluations_per_row": kernel.evaluations_per_row_,
        "seconds_per_row": kernel_seconds,
    }
    return Measured(amortized, kernel, figures)


def _seconds(explainer: ScoringExplainer, rows: Any) -> float:
    started = time.perf_counter()
    explainer.explain(rows)
    return (time.perf_counter() - started) / len(rows)
