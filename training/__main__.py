"""`python -m training`: train, explain, evaluate, save the bundle, build the Bento.

With no arguments: the breast-cancer SVC of the reference design, saved as `breast_cancer_svc`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

from scoring.explainers import EXPLAINERS
from scoring.report import Fidelity, Importance, Report
from scoring.sample import MAX_ROWS as MAX_SAMPLE_ROWS
from training.models import CSV_FAMILY, FAMILIES
from training.package import MAX_EXPLAIN_ROWS

DEFAULT_NAME = "breast_cancer_svc"
# tables with more training rows than this get a time estimate before the model and explainer fits
LARGE_TABLE_ROWS = 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train a model, fit its scoring explainer, save one bundle to the BentoML model "
        "store and build the Bento. With no arguments: scikit-learn's breast-cancer data and the "
        "reference SVC(gamma=0.001, C=100., probability=True).",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--csv", metavar="PATH", help="a CSV file to train on (default: breast cancer)")
    data.add_argument("--target", metavar="COLUMN", help="the label column of --csv")
    data.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    data.add_argument(
        "--drop-missing-target",
        action="store_true",
        help="leave out rows whose target is missing (default: stop with an error)",
    )
    data.add_argument("--test-size", type=float, default=0.2, help="share of rows held out (default 0.2)")
    data.add_argument("--seed", type=int, default=0, help="random_state of the split, model and explainer")
    model = parser.add_argument_group("model and explainer")
    model.add_argument(
        "--model",
        choices=FAMILIES,
        help=f"model family (default: svc for the built-in data, {CSV_FAMILY} for --csv)",
    )
    methods = ["auto", *(str(m) for m in EXPLAINERS)]
    model.add_argument("--explainer", choices=methods, default="auto", help="explainer method (default auto)")
    model.add_argument("--budget", type=int, help="coalitions per row for sampled explainers (kernel)")
    model.add_argument("--background", type=int, help="background rows kept by the explainer (kernel)")
    model.add_argument(
        "--fit-evaluations",
        type=int,
        help="model evaluations the amortized explainer spends on its training labels, and half as "
        "many on its fidelity reference (default 2,000,000; 8,000,000 labels for a bare RBF SVC, "
        "whose walks are computed step by step)",
    )
    model.add_argument(
        "--importance-rows",
        type=int,
        help="rows for global importance (default: every test row for linear/tree/amortized, "
        "50 for the other methods, at most --max-explain-rows either way)",
    )
    model.add_argument(
        "--max-explain-rows",
        type=int,
        default=MAX_EXPLAIN_ROWS,
        help="training rows a model-agnostic explainer is fitted on, and rows global importance "
        f"covers, at most (a seeded sample; default {MAX_EXPLAIN_ROWS:,})",
    )
    model.add_argument(
        "--fidelity-rows", type=int, default=10, help="rows compared with the reference (default 10)"
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--name",
        help=f"bundle (BentoML model) name (default {DEFAULT_NAME} for the built-in data, "
        "<file>_<target>_<model> for --csv); an existing name gets a new version",
    )
    out.add_argument("--no-build", action="store_true", help="save the bundle but do not build the Bento")
    out.add_argument(
        "--sample-rows",
        type=int,
        help=f"test rows kept for the dashboard (default: all up to {MAX_SAMPLE_ROWS} for linear and "
        "tree explainers, else the rows explained for global importance)",
    )
    out.add_argument(
        "--no-sample", action="store_true", help="keep no test rows in the bundle (sensitive data)"
    )
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if (args.csv is None) != (args.target is None):
        parser.error("--csv and --target go together")
    if args.model is None:
        args.model = "svc" if args.csv is None else CSV_FAMILY
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the reference SVC(probability=True) is announced for removal in scikit-learn 1.11 (pinned here)
    warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)
    import training
    from training import data as datasets
    from training import estimate
    from training.models import make_model

    progress = not args.quiet
    dataset = (
        datasets.load_default()
        if args.csv is None
        else datasets.load_csv(
            args.csv, args.target, task=args.task, drop_missing_target=args.drop_missing_target
        )
    )
    name = args.name or (
        DEFAULT_NAME if args.csv is None else datasets.bundle_name(dataset.name, dataset.target, args.model)
    )
    parts = datasets.split(dataset, test_size=args.test_size, seed=args.seed)
    model = make_model(args.model, dataset.X, task=dataset.task, seed=args.seed)

    fit_estimate = None
    if len(parts.X_train) > LARGE_TABLE_ROWS:
        fit_estimate = estimate.model_fit(args.model, model, parts.X_train, parts.y_train, seed=args.seed)
        if fit_estimate.long:
            print(fit_estimate.warning(), file=sys.stderr, flush=True)
    start = time.perf_counter()
    seconds = fit_estimate.seconds if fit_estimate else 1.0
    with estimate.timed_bar(f"fitting {args.model}", seconds, enabled=progress):
        model.fit(parts.X_train, parts.y_train)
    fit_seconds = time.perf_counter() - start

    saved = training.save_model(
        name,
        model,
        parts.X_train,
        X_eval=parts.X_test,
        y_eval=parts.y_test,
        class_names=dataset.class_names,
        target=dataset.target,
        explainer=args.explainer,
        budget=args.budget,
        n_background=args.background,
        fit_evaluations=args.fit_evaluations,
        importance_rows=args.importance_rows,
        max_explain_rows=args.max_explain_rows,
        fidelity_rows=args.fidelity_rows,
        sample_rows=args.sample_rows,
        omit_sample="left out at training time (--no-sample)" if args.no_sample else None,
        labels={"family": args.model, "data": dataset.name},
        seed=args.seed,
        progress=progress,
    )

    bento: str | None = None
    build_note = "skipped (--no-build)"
    if not args.no_build:
        reason = training.bento.missing_service()
        if reason is not None:
            build_note = f"skipped: {reason}"
        else:
            with estimate.timed_bar("building the Bento", 5.0, enabled=progress):
                bento = training.build_bento(saved.tag)
    print(summary(saved, dataset, fit_seconds=fit_seconds, bento=bento, build_note=build_note))
    return 0


def summary(saved: Any, dataset: Any, *, fit_seconds: float, bento: str | None, build_note: str) -> str:
    report: Report = saved.report
    explainer = report.explainer
    data = report.data
    assert data is not None and report.model is not None  # a report written by training has both
    name, version = saved.tag.split(":")
    dropped = f"; {dataset.dropped_rows} rows without a target left out" if dataset.dropped_rows else ""
    lines = [
        f"Trained {report.model.rsplit('.', 1)[-1]} on {dataset.name}: "
        f"{data.train_rows} training rows, {data.eval_rows or 0} test rows, "
        f"{data.raw_features} raw / {data.engineered_features} engineered features "
        f"(fit {fit_seconds:.1f} s){dropped}",
        "  metrics     " + ("  ".join(f"{k} {v:.3f}" for k, v in report.metrics.items()) or "none"),
        f"  explainer   {explainer.method} ({_params(explainer.params)}) "
        f"in {explainer.space} space, levels {'+'.join(explainer.levels)}",
        f"              explains {explainer.explains}",
        f"              chosen: {explainer.chosen_because}",
        f"              fitted on {data.explainer_rows} of {data.train_rows} training rows "
        f"(--max-explain-rows {data.max_explain_rows})",
        f"  fidelity    {_fidelity(report.fidelity)}",
        f"  importance  {_top(report.global_importance['raw'])}",
        f"  timings     fit explainer {report.timings['fit_explainer_s']:.1f} s, "
        f"explain {report.timings['explain_ms_per_row']:.1f} ms/row, "
        f"fidelity {report.timings['fidelity_s']:.1f} s",
        f"  bundle      {saved.tag}   (name {name}, version {version})",
        f"              {saved.path}",
        f"  bento       {bento or build_note}",
        "",
        "Next (from the repository, or with .venv/bin/ on the PATH):",
    ]
    host = "--host 127.0.0.1 --port 3000"
    if bento is not None:
        lines.append(f"  bentoml serve {bento} {host}   # serves {saved.tag}")
    else:
        lines.append(f"  python -m training.bento {saved.tag}   # build its Bento")
        lines.append(f"  BUNDLE={saved.tag} bentoml serve service:ExplainedModel {host}")
    lines += [
        f"  bentoml models get {saved.tag}   # the bundle's metadata",
        f"  bentoml models export {saved.tag} bundles/   # then: docker build --build-arg "
        f"BUNDLE={saved.tag} -t {name} .",
    ]
    return "\n".join(lines)


def _params(params: Mapping[str, Any]) -> str:
    shown = {
        k: v
        for k, v in params.items()
        if k in ("budget", "n_background", "output", "label_evaluations", "n_components") and v is not None
    }
    return ", ".join(f"{k} {v}" for k, v in shown.items()) or "no parameters"


def _fidelity(fidelity: Fidelity | None) -> str:
    if fidelity is None:
        return "not measured"
    if fidelity.exact:
        return str(fidelity.note)
    ref = fidelity.reference
    if ref is None:
        against = "an unrecorded reference"
    elif ref["method"] == "kernel":
        against = f"kernel(budget {ref['budget']}, background {ref['n_background']})"
    else:
        against = f"{ref['method']} reference"
    held_out = " held-out" if fidelity.measured_at_fit is not None else ""
    rows = f"{fidelity.rows}{held_out} rows"
    return (
        f"median relative L2 {fidelity.median_rel_l2:.3f} (p90 {fidelity.p90_rel_l2:.3f}) "
        f"vs {against} on {rows}"
    )


def _top(importance: Importance, k: int = 3) -> str:
    ranked = importance.ranked()[:k]
    return ", ".join(f"{n} {v:.3g}" for n, v in ranked) + f"  (raw, mean |value|, {importance.rows} rows)"


def run() -> None:
    """The command line (`python -m training`, or the `explained-train` script)."""
    from scoring.errors import ScoringError
    from training.bento import BuildError

    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError, ScoringError, BuildError) as error:
        # a bad CSV, target, option combination or build: say what, without a traceback
        print(f"python -m training: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run()
