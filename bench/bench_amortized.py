"""Benchmark of the amortized explainer beside `kernel` and shap's reference design.

For each black-box model: rows/s, model evaluations per row and error against one reference, all
in the same run, on the test rows. The reference is the interventional Shapley value over the
whole training set (what every background summary approximates): exact by enumeration when
affordable, else antithetic permutation sampling averaged over two seeds (noise floor reported).

    .venv/bin/python -m bench.bench_amortized [--write] [--only NAME]
        [--label-evaluations N] [--n-components N]   (the amortized explainer's; default theirs)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import publish
from scoring.explainers.amortized import WALK_FACTOR, AmortizedExplainer
from scoring.explainers.kernel import KernelExplainer
from scoring.fidelity import Reference, choose_black_box, fidelity_figures, noise_floor, reference_values
from scoring.model_output import Columns, make_output
from scoring.selection import measure_black_box

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "bench_amortized"
# permutations per seed of the permutation reference (WALK_FACTOR times more on a walk path)
REFERENCE_PERMUTATIONS = 1024
TOLERANCE = 0.05


@dataclass
class Problem:
    name: str
    description: str
    model: Any
    X_train: np.ndarray
    X_test: np.ndarray


@dataclass
class Result:
    method: str
    rows_per_second: float
    evaluations_per_row: float
    figures: dict[str, float]


def breast_cancer_svc() -> Problem:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated
        model = SVC(gamma=0.001, C=100.0, probability=True, random_state=0).fit(X_train, y_train)
    return Problem(
        "breast_cancer_svc",
        "load_breast_cancer (30 features), SVC(gamma=0.001, C=100, probability=True, random_state=0)",
        model,
        X_train,
        X_test,
    )


def wine_mlp() -> Problem:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=0)
    model = make_pipeline(StandardScaler(), mlp).fit(X_train, y_train)
    return Problem(
        "wine_mlp",
        "load_wine (13 features, 3 classes), StandardScaler + MLPClassifier(32)",
        model,
        X_train,
        X_test,
    )


class Counted:
    """The model's predict_proba, counting the rows it is sent."""

    def __init__(self, model: Any):
        self.model = model
        self.rows = 0

    def __call__(self, X: Any) -> np.ndarray:
        self.rows += len(X)
        return np.asarray(self.model.predict_proba(X), dtype=float)


def best_seconds(fn: Callable[[], object], *, number: int, repeat: int = 5) -> float:
    """Seconds per call: the best of `repeat` loops (the least disturbed by other jobs)."""
    fn()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return float(best)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(problem: Problem, amortized_params: dict[str, int] | None = None) -> dict[str, Any]:
    model, X_train, X_test = problem.model, problem.X_train, problem.X_test
    n, m = X_test.shape
    progress(f"{problem.name}: reference over {len(X_train)} training rows for {n} test rows")
    started = time.perf_counter()
    # the model's output as the explainers compute it: a bare RBF SVC's walks step by step
    # (proven against predict_proba), which buys its reference WALK_FACTOR times the permutations
    output = make_output(model, Columns.from_data(X_train))
    permutations = REFERENCE_PERMUTATIONS * (WALK_FACTOR if output.walk is not None else 1)
    budget = max(2**m * len(X_train) * n if m <= 13 else 0, 2 * permutations * n * (m - 1))
    reference = reference_values(output, X_test, X_train, max_evaluations=budget)
    reference_seconds = time.perf_counter() - started
    results = []

    progress(f"{problem.name}: amortized fit, and kernel measured beside it as `auto` does")
    measured = measure_black_box(
        AmortizedExplainer(**(amortized_params or {})), KernelExplainer(), model, X_train
    )
    amortized = measured.amortized
    fit_seconds = float(amortized.fit_info_["fit_seconds"])
    values = amortized.explain(X_test).values
    batch = best_seconds(lambda: amortized.explain(X_test), number=10, repeat=7)
    results.append(Result("amortized", n / batch, 1, fidelity_figures(values, reference)))
    row = X_test[:1]
    single_explain = best_seconds(lambda: amortized.explain(row), number=200)
    single_predict = best_seconds(lambda: model.predict_proba(row), number=200)

    progress(f"{problem.name}: kernel (default parameters)")
    kernel = KernelExplainer().fit(model, X_train)
    started = time.perf_counter()
    kernel_values = kernel.explain(X_test).values
    kernel_seconds = time.perf_counter() - started
    results.append(
        Result(
            f"kernel (bg {kernel.n_background}, budget {kernel.budget}, defaults)",
            n / kernel_seconds,
            kernel.evaluations_per_row_,
            fidelity_figures(kernel_values, reference),
        )
    )

    progress(f"{problem.name}: shap reference design")
    import shap

    counted = Counted(model)
    design = shap.KernelExplainer(counted, shap.kmeans(X_train, 10))
    counted.rows = 0
    started = time.perf_counter()
    raw = design.shap_values(X_test, silent=True)
    design_seconds = time.perf_counter() - started
    design_values = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw)
    results.append(
        Result(
            "shap KernelExplainer, kmeans(X_train, 10), default nsamples",
            n / design_seconds,
            counted.rows / n,
            fidelity_figures(design_values, reference),
        )
    )
    method, reason = choose_black_box(measured.figures, tolerance=TOLERANCE)
    return {
        "problem": problem,
        "reference": reference,
        "reference_seconds": reference_seconds,
        "results": results,
        "fit_seconds": fit_seconds,
        "fit_info": amortized.fit_info_,
        "fidelity": measured.figures,
        "single_explain": single_explain,
        "single_predict": single_predict,
        "auto": (method, reason),
        "amortized_params": amortized_params or {},
    }


def report(runs: list[dict[str, Any]], started: str, load: float) -> str:
    lines = [
        "## Amortized explainer: rows/s and error against the reference",
        "",
        f"`python -m bench.bench_amortized` on {started}: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, 1-min load average {load:.1f} at the start (other jobs "
        "share this machine: wall-clock figures are noisy; the amortized explainer's rows/s and "
        "the single-row times are the best of several loops, kernel and shap make one pass). "
        "Test rows of `train_test_split(test_size=0.2, random_state=0)`, all methods on the same "
        "rows in the same run. Error: per row, relative L2 distance to the reference over all "
        "features and classes; top-1 / top-5: agreement of the largest |value| features; sign: "
        "agreement weighted by the reference's |value|.",
        "",
        "`amortized` (default parameters): ridge regression of Shapley values on random Fourier "
        "features of x, each also times f(x) - base, and of each feature's own effects against "
        "4-8 anchor rows (the output change when it alone switches to and from the anchor's "
        "value), fitted on permutation-sampled Shapley labels over all training rows (training "
        "rows + interpolated synthetic rows, 2M model evaluations, or 8M walk steps for a bare "
        "RBF SVC), then corrected to add up to f(x) exactly; one model call per batch (the "
        "anchors' rows in it; an SVC's by its switch path). The reference is over all training "
        "rows, like the "
        "amortized explainer's labels; the kernel and shap rows average over a 100- or 10-row "
        "k-means summary, whose bias is part of their error here. Issue 12's targets: median "
        "rel. L2 <= 0.10 and p90 <= 0.25 on the SVC, at most kernel's median on the MLP.",
    ]
    for r in runs:
        problem: Problem = r["problem"]
        ref: Reference = r["reference"]
        floor = noise_floor(ref)
        lines += [
            "",
            f"### {problem.name}: {problem.description}",
            "",
            *(
                [f"Amortized explainer NOT at its defaults here: {r['amortized_params']}.", ""]
                if r["amortized_params"]
                else []
            ),
            f"Reference: interventional Shapley values over all {len(problem.X_train)} training "
            f"rows, {ref.kind} ({ref.evaluations_per_row} evaluations per row, "
            f"{r['reference_seconds']:.0f} s); noise floor median {floor['median_rel_l2']:.3f}, "
            f"p90 {floor['p90_rel_l2']:.3f}.",
            "",
            "| method | rows/s | model evals/row | median rel. L2 | p90 | max abs | top-1 | top-5 | sign |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for res in r["results"]:
            g = res.figures
            lines.append(
                f"| {res.method} | {res.rows_per_second:,.1f} | {res.evaluations_per_row:,.0f} | "
                f"{g['median_rel_l2']:.3f} | {g['p90_rel_l2']:.3f} | {g['max_abs_error']:.3f} | "
                f"{g['top1_agreement']:.2f} | {g['top5_agreement']:.2f} | {g['sign_agreement']:.3f} |"
            )
        ours, design = r["results"][0], r["results"][2]
        speedup = ours.rows_per_second / design.rows_per_second
        ratio = r["single_explain"] / r["single_predict"]
        fid = r["fidelity"]
        info = r["fit_info"]
        method, reason = r["auto"]

        def mark(ok: bool) -> str:
            return "met" if ok else "NOT met"

        error_ok = ours.figures["median_rel_l2"] <= design.figures["median_rel_l2"]
        median, p90 = ours.figures["median_rel_l2"], ours.figures["p90_rel_l2"]
        kernel_median = r["results"][1].figures["median_rel_l2"]
        if problem.name == "breast_cancer_svc":
            met = mark(median <= 0.10 and p90 <= 0.25)
            sharp = f"median {median:.3f} (<= 0.10), p90 {p90:.3f} (<= 0.25): {met}"
        else:
            sharp = f"median {median:.3f} vs kernel's {kernel_median:.3f}: {mark(median <= kernel_median)}"
        lines += [
            "",
            f"- sharper amortized (issue 12): {sharp}.",
            f"- amortized vs the reference design: **{speedup:,.0f}x** rows/s at median error "
            f"{ours.figures['median_rel_l2']:.3f} vs {design.figures['median_rel_l2']:.3f} "
            f"(target >= 100x at equal or lower error: {mark(speedup >= 100 and error_ok)}).",
            f"- single row: explain {r['single_explain'] * 1e6:,.0f} us vs the model's own "
            f"predict_proba {r['single_predict'] * 1e6:,.0f} us: **{ratio:.2f}x** "
            f"(target <= 2x: {mark(ratio <= 2)}).",
            f"- fit: {r['fit_seconds']:.0f} s ({info['training_rows']} training + "
            f"{info['synthetic_rows']} synthetic rows x {info['permutations_per_row']} "
            f"permutations = {info['label_evaluations']:,} label evaluations; length-scale "
            f"{info['lengthscale']}, ridge {info['alpha']}; plus the fidelity measurement).",
            f"- measured at fit time on {fid['amortized']['rows']} held-out training rows "
            f"({fid['reference']['kind']}, noise floor "
            f"{fid['reference']['noise_floor']['median_rel_l2']:.3f}): amortized median "
            f"{fid['amortized']['median_rel_l2']:.3f} (denoised "
            f"{fid['amortized']['median_rel_l2_denoised']:.3f}), kernel "
            f"{fid['kernel']['median_rel_l2']:.3f} (denoised "
            f"{fid['kernel']['median_rel_l2_denoised']:.3f}). `auto` (tolerance {TOLERANCE}): "
            f"**{method}**: {reason}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write the section into {RESULTS}")
    parser.add_argument("--only", choices=["breast_cancer_svc", "wine_mlp"], help="one problem")
    parser.add_argument("--label-evaluations", type=int, help="the amortized explainer's label budget")
    parser.add_argument("--n-components", type=int, help="the amortized explainer's Fourier features")
    args = parser.parse_args(argv)
    given = {"label_evaluations": args.label_evaluations, "n_components": args.n_components}
    params = {name: value for name, value in given.items() if value is not None}
    started = time.strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()[0]
    problems = [breast_cancer_svc, wine_mlp]
    runs = [run(p(), params) for p in problems if args.only in (None, p.__name__)]
    text = report(runs, started, load)
    publish(text, RESULTS if args.write else None, SECTION)
    return text


if __name__ == "__main__":
    main()
