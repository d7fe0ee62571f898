"""The kernel explainer on the breast-cancer SVC, beside shap's KernelExplainer.

Everything is measured on the same test rows, in the same run:
- a high-accuracy reference: KernelSHAP over the whole training set as background (each of
  16384 coalitions on 16 rows of it, with the control variate: unbiased for the full-data
  interventional values), averaged over two seeds (their difference is the noise floor);
- shap's reference design: `shap.kmeans(X_train, 10)`, default nsamples and l1_reg;
- our kernel over a sweep of (n_background, budget);
- at an equal number of model evaluations on one fixed background: our kernel ("leverage" and
  "kernel" sampling) against shap with `l1_reg=False`, both against that background's
  converged values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import shap
from shap.utils._legacy import DenseData
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from bench.common import Run, TimedModel, measure, median_error, progress
from scoring import Explanation, KernelExplainer
from scoring.explainers.coalitions import make_design

# (n_background, budget, rows_per_coalition): None evaluates every coalition on every row
SWEEP: list[tuple[int, int, int | None]] = [
    (20, 512, None),  # the former default
    (10, 768, None),
    (50, 1536, 4),
    (100, 1280, 4),
    (100, 1792, 4),
    (200, 1536, 4),
]
# the design and our default are timed alternately, this many times each (a busy machine then
# slows both alike); their speed ratio is taken per round
ROUNDS = 3
EQUAL_BUDGETS = [256, 512, 1024]
DESIGN_SEEDS = [0, 1]


@dataclass
class KernelResults:
    n_rows: int
    reference_seconds: float
    reference_evaluations_per_row: float
    noise_floor: float
    design: Run  # shap's reference design
    design_error: float
    # (label, run, error, median actual / stated error)
    sweep: list[tuple[str, Run, float, float]] = field(default_factory=list)
    # budget -> method -> (evaluations per row, error vs converged, error vs reference), seed-averaged
    equal: dict[int, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    converged_noise: float = 0.0
    reference_design: str = ""
    equal_background: int = 10
    # our KernelExplainer() at its defaults: (label, run over every round, error, actual / stated)
    default: tuple[str, Run, float, float] | None = None
    # per round: (design rows/s, default rows/s)
    rounds: list[tuple[float, float]] = field(default_factory=list)


def breast_cancer_svc() -> tuple[TimedModel, np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated in 1.9
        svc = SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(X_train, y_train)
    return TimedModel(svc), X_train, X_test


def run(n_rows: int, ref_budget: int, ref_rows_per_coalition: int) -> KernelResults:
    model, X_train, X_test = breast_cancer_svc()
    rows = X_test[:n_rows]

    n_train = len(X_train)
    progress(f"reference: all {n_train} training rows, {ref_budget} coalitions x {ref_rows_per_coalition}")
    refs = []
    for seed in (1000, 1001):
        explainer = KernelExplainer(
            n_background=n_train,
            budget=ref_budget,
            rows_per_coalition=ref_rows_per_coalition,
            n_bootstrap=0,
            seed=seed,
        ).fit(model, X_train)
        refs.append(measure("reference", model, partial(_positive, explainer, rows), n_rows))
        progress(f"  seed {seed}: {refs[-1].seconds:.0f} s")
    reference = (refs[0].values + refs[1].values) / 2
    noise = median_error(refs[0].values, refs[1].values)

    progress(
        "shap's reference design (shap.kmeans(X_train, 10), default nsamples and l1_reg) and our "
        f"default KernelExplainer(), alternately, {ROUNDS} rounds"
    )
    shap_explainer = shap.KernelExplainer(model.predict_proba, shap.kmeans(X_train, 10))
    ours = KernelExplainer().fit(model, X_train)
    designs, defaults, stated = [], [], []
    for _ in range(ROUNDS):
        designs.append(
            measure(
                "shap reference design",
                model,
                lambda: np.asarray(shap_explainer.shap_values(rows, silent=True))[:, :, 1],
                n_rows,
            )
        )
        explained: dict[str, Explanation] = {}
        defaults.append(measure("ours default", model, partial(_explain, ours, explained, rows), n_rows))
        stated.append(explained["e"].error)
        progress(
            f"  design {designs[-1].rows_per_second:.2f} rows/s, default {defaults[-1].rows_per_second:.2f}"
        )
    design = _pooled(designs)
    results = KernelResults(
        n_rows=n_rows,
        reference_seconds=sum(r.seconds for r in refs),
        reference_evaluations_per_row=sum(r.evaluations_per_row for r in refs),
        noise_floor=noise,
        design=design,
        design_error=float(np.mean([median_error(r.values, reference) for r in designs])),
        reference_design=f"all {n_train} training rows, {ref_budget} coalitions x {ref_rows_per_coalition}",
        rounds=[(d.rows_per_second, o.rows_per_second) for d, o in zip(designs, defaults, strict=True)],
    )
    p = ours.get_params()
    default_label = f"bg {p['n_background']}, budget {p['budget']}, {p['rows_per_coalition']} rows/coalition"
    results.default = (
        default_label,
        _pooled(defaults),
        float(np.mean([median_error(r.values, reference) for r in defaults])),
        float(np.median([_honesty(r.values, reference, e) for r, e in zip(defaults, stated, strict=True)])),
    )

    for n_bg, budget, per_coalition in SWEEP:
        explainer = KernelExplainer(n_background=n_bg, budget=budget, rows_per_coalition=per_coalition)
        explainer.fit(model, X_train)
        out: dict[str, Explanation] = {}
        label = f"bg {n_bg}, budget {budget}" + (f", {per_coalition} rows/coalition" if per_coalition else "")
        r = measure(label, model, partial(_explain, explainer, out, rows), n_rows)
        error = median_error(r.values, reference)
        results.sweep.append((label, r, error, _honesty(r.values, reference, out["e"].error)))
        progress(f"  {label}: {r.rows_per_second:.2f} rows/s, error {error:.3f}")

    _equal_evaluations(results, model, X_train, rows, reference)
    return results


def _explain(explainer: KernelExplainer, out: dict[str, Explanation], rows: np.ndarray) -> np.ndarray:
    out["e"] = explainer.explain(rows)
    return out["e"].values[:, :, 1]


def _honesty(values: np.ndarray, reference: np.ndarray, stated: np.ndarray | None) -> float:
    """Median over rows of the actual error (positive class) over the stated one."""
    assert stated is not None
    return float(np.median(np.linalg.norm(values - reference, axis=1) / stated[:, 1]))


def _pooled(runs: list[Run]) -> Run:
    """Several timed runs as one: their rows, time and evaluations summed (the first's values)."""
    return Run(
        runs[0].name,
        sum(r.n_rows for r in runs),
        sum(r.seconds for r in runs),
        sum(r.evaluations for r in runs),
        sum(r.model_seconds for r in runs),
        runs[0].values,
    )


def _positive(explainer: KernelExplainer, rows: np.ndarray) -> np.ndarray:
    """The positive class's values (n, M)."""
    return explainer.explain(rows).values[:, :, 1]


def _equal_evaluations(
    results: KernelResults, model: TimedModel, X_train: np.ndarray, rows: np.ndarray, reference: np.ndarray
) -> None:
    """Ours against shap's l1_reg=False with the same background and budget, against the values
    converged for that background (so that only the sampling error is compared)."""
    n_rows = len(rows)
    ours = KernelExplainer(n_background=results.equal_background, budget=64, rows_per_coalition=None).fit(
        model, X_train
    )
    bg = ours.background_
    m = X_train.shape[1]

    def with_design(budget: int, sampling: str, seed: int) -> np.ndarray:
        # the benchmark's one private touch: a new design over the same background
        ours._set_design(make_design(m, budget, sampling=sampling, seed=seed))
        return _positive(ours, rows)

    progress(f"equal evaluations: converged values for a {bg.size}-row background (budget 8192, 2 seeds)")
    conv = [
        measure("converged", model, partial(with_design, 8192, "leverage", s), n_rows) for s in (100, 101)
    ]
    converged = (conv[0].values + conv[1].values) / 2
    results.converged_noise = median_error(conv[0].values, conv[1].values)

    shap_bg = DenseData(bg.rows.copy(), [str(j) for j in range(m)], None, bg.weights.copy())
    shap_explainer = shap.KernelExplainer(model.predict_proba, shap_bg)

    def shap_values(budget: int, seed: int) -> np.ndarray:
        np.random.seed(seed)  # noqa: NPY002  shap samples from numpy's global generator
        out = shap_explainer.shap_values(rows, nsamples=budget, l1_reg=False, silent=True)
        return np.asarray(out)[:, :, 1]

    for budget in EQUAL_BUDGETS:
        cells: dict[str, tuple[float, float, float]] = {}
        methods: dict[str, Callable[[int], np.ndarray]] = {
            "ours (leverage)": partial(with_design, budget, "leverage"),
            "ours (kernel)": partial(with_design, budget, "kernel"),
            "shap l1_reg=False": partial(shap_values, budget),
        }
        for name, fn in methods.items():
            runs = [measure(name, model, partial(fn, s), n_rows) for s in DESIGN_SEEDS]
            cells[name] = (
                float(np.mean([r.evaluations_per_row for r in runs])),
                float(np.mean([median_error(r.values, converged) for r in runs])),
                float(np.mean([median_error(r.values, reference) for r in runs])),
            )
        results.equal[budget] = cells
        progress(f"  budget {budget}: " + ", ".join(f"{k} {v[1]:.3f}" for k, v in cells.items()))
