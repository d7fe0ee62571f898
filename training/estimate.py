"""How long a fit will take, said before it starts, and a progress bar for work that reports none.

Model fits: timed on two small samples of the rows and scaled up by the growth measured between
them. Explainers: the model evaluations the
method spends, times the measured cost of one evaluation.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier

from scoring.explainers import AmortizedExplainer, KernelExplainer
from scoring.explainers.amortized import LABEL_EVALUATIONS, REFERENCE_EVALUATIONS, evaluation_budget
from scoring.explanation import Method
from scoring.fidelity import AUDIT_EVALUATIONS_PER_ROW

# estimates above this many seconds are announced, with the levers that shorten them
WARN_SECONDS = 60.0
# rows a model fit is timed on before the full fit (and a quarter as many)
PROBE_ROWS = 2000
# a kernel SVC's fit grows at least with the square of the rows, though small probes show less
MIN_GROWTH = {"svc": 2.0}


@dataclass(frozen=True)
class Estimate:
    seconds: float
    what: str  # e.g. "fitting svc on 54,000 rows x 20 features"
    basis: str  # how it was estimated
    levers: str  # what shortens it

    @property
    def long(self) -> bool:
        return self.seconds > WARN_SECONDS

    def warning(self) -> str:
        return (
            f"warning: {self.what} is estimated at {_duration(self.seconds)} ({self.basis}); "
            f"to shorten it: {self.levers}"
        )


def model_fit(family: str, model: Any, X: pd.DataFrame, y: pd.Series, *, seed: int = 0) -> Estimate:
    """The full fit's time, from fits of a clone on PROBE_ROWS / 4 and PROBE_ROWS rows: the
    growth between the two (clipped to between none and the cube) is carried on to all rows."""
    n, m = X.shape
    order = np.random.default_rng(seed).permutation(n)
    sizes = (max(1, min(n, PROBE_ROWS) // 4), min(n, PROBE_ROWS))
    times = []
    for size in sizes:
        rows = order[:size]
        start = time.perf_counter()
        clone(model).fit(X.iloc[rows], y.iloc[rows])
        times.append(max(time.perf_counter() - start, 1e-3))
    measured = np.log(times[1] / times[0]) / np.log(sizes[1] / sizes[0])
    growth = float(np.clip(max(measured, MIN_GROWTH.get(family, 0.0)), 0.0, 3.0))
    seconds = times[1] * (n / sizes[1]) ** growth
    levers = "train on a sample of the rows"
    if family != "hist_gradient_boosting":
        levers = "--model hist_gradient_boosting (fast on large tables, exact TreeSHAP), or " + levers
    return Estimate(
        seconds,
        f"fitting {family} on {n:,} rows x {m} features",
        f"fits on {sizes[0]:,} and {sizes[1]:,} rows, time growing as rows^{growth:.1f}",
        levers,
    )


def explainer_fit(
    method: Method,
    model: Any,
    X: Any,
    *,
    fit_evaluations: int | None,
    budget: int | None = None,
    n_background: int | None = None,
) -> Estimate | None:
    """The explainer's fit and fidelity measurement, for the method that evaluates the model many
    times at fit (amortized; `fit_evaluations`, `budget` and `n_background` as `choose_explainer`
    takes them, None keeping the explainer's defaults); None for the others (cheap to fit)."""
    if method is not Method.AMORTIZED:
        return None
    defaults = AmortizedExplainer().get_params()
    per_row = evaluation_seconds(model, X)
    per_step = walk_step_seconds(model, X)
    walks = per_step is not None
    given_reference = None if fit_evaluations is None else fit_evaluations // 2
    labels = evaluation_budget(fit_evaluations, LABEL_EVALUATIONS, walks=walks)
    reference = evaluation_budget(given_reference, REFERENCE_EVALUATIONS, walks=walks)
    held = min(defaults["max_holdout"], round(defaults["holdout"] * len(X)))
    kernel_defaults = KernelExplainer().get_params()  # the candidate `auto` measures beside it
    background = n_background or kernel_defaults["n_background"]
    per_coalition = min(background, kernel_defaults["rows_per_coalition"] or background)
    kernel = (budget or kernel_defaults["budget"]) * per_coalition
    sampled = (  # along permutation walks: steps of the walk path where there is one
        labels
        + reference  # the fidelity reference on held-out rows
        + reference // 2  # the reference on held-out rows moved outside the training range
        + held * AUDIT_EVALUATIONS_PER_ROW  # what an audit should find
    )
    built = held * kernel  # kernel, measured beside it, on built rows
    seconds = sampled * (per_step if per_step is not None else per_row) + built * per_row
    basis = f"{per_row * 1e6:.1f} us per model evaluation, measured"
    if per_step is not None:
        basis += f"; {per_step * 1e6:.2f} us per walk step for {sampled / 1e6:.1f} M of them"
    return Estimate(
        seconds,
        f"fitting the amortized explainer ({(sampled + built) / 1e6:.1f} M model evaluations over "
        f"{len(X):,} rows x {X.shape[1]} features)",
        basis,
        "--fit-evaluations N (fewer labels, a noisier explainer), --explainer kernel, or a faster model",
    )


def walk_step_seconds(model: Any, X: Any, rows: int = 8, walks: int = 16) -> float | None:
    """Seconds per step of the model's walk path (scoring.walks, a bare binary RBF SVC's
    probabilities), measured on walks between rows of X; None when it has none."""
    from scoring.walks import walk_of

    walk = walk_of(model, "probability")
    if walk is None:
        return None
    sample = np.asarray(X[:rows] if isinstance(X, np.ndarray) else X.iloc[:rows], dtype=float)
    n, m = sample.shape
    rng = np.random.default_rng(0)
    background = sample[rng.integers(0, n, (n, walks))]
    order = np.argsort(rng.random((n, walks, m)), axis=2)
    walk(sample, background, order)  # compiled on the first call
    start = time.perf_counter()
    walk(sample, background, order)
    return (time.perf_counter() - start) / max(1, n * walks * (m - 1))


def evaluation_seconds(model: Any, X: Any, rows: int = 512) -> float:
    """Seconds per row of the explained output (probabilities, else predictions), in batch."""
    sample = X[:rows] if isinstance(X, np.ndarray) else X.iloc[:rows]
    call = model.predict_proba if is_classifier(model) and hasattr(model, "predict_proba") else model.predict
    call(sample)  # warm up
    start = time.perf_counter()
    call(sample)
    return (time.perf_counter() - start) / len(sample)


@contextlib.contextmanager
def timed_bar(desc: str, seconds: float, *, enabled: bool) -> Iterator[None]:
    """A progress bar over the estimated `seconds` of work that reports no progress of its own
    (a model fit): it moves with the clock, its ETA is the estimate's, and it closes when the work
    is done, early or late."""
    from tqdm.auto import tqdm

    total = max(1, round(seconds))
    done = threading.Event()
    with tqdm(total=total, desc=desc, unit="s", disable=not enabled, leave=False) as bar:

        def tick() -> None:
            start = time.monotonic()
            while not done.wait(0.5):
                bar.n = min(total - 1, int(time.monotonic() - start))
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
            bar.n = total
            bar.refresh()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
