"""The reference design's model, saved with its scoring explainer as one bundle.

Run from the repository root:

    python -m examples.breast_cancer_svc            # train, save the bundle, explain two rows
    python -m examples.breast_cancer_svc --quick    # small explainer budgets: seconds, not a minute
    python -m examples.breast_cancer_svc --build    # then build the Bento as well
"""

from __future__ import annotations

import argparse
import warnings

from sklearn import svm
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import training

NAME = "example_breast_cancer_svc"  # its own name: the service's default bundle stays untouched


def main(argv: list[str] | None = None) -> training.SavedBundle:
    args = _parse(argv)
    # scikit-learn 1.9 announces that SVC(probability=True) goes in 1.11; the model still works
    warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)

    # load the breast cancer dataset, a well-known small dataset that comes with scikit-learn
    breast_cancer_data = load_breast_cancer(as_frame=True)
    classes = breast_cancer_data.target_names.tolist()
    x_train, x_test, y_train, y_test = train_test_split(
        breast_cancer_data.data, breast_cancer_data.target, test_size=0.2, random_state=0
    )
    clf = svm.SVC(gamma=0.001, C=100.0, probability=True)
    model = clf.fit(x_train, y_train)

    # one call: fit the scoring explainer (`auto`, for an SVC over 30 columns: the amortized
    # explainer if it measures within 0.05 of kernel's error on held-out rows, else kernel),
    # evaluate on the test rows, and save model + explainer + schema + report as one bundle
    saved = training.save_model(
        NAME,
        model,
        x_train,
        X_eval=x_test,
        y_eval=y_test,
        class_names=classes,
        budget=64 if args.quick else None,
        n_background=5 if args.quick else None,
        fit_evaluations=100_000 if args.quick else None,
        importance_rows=10 if args.quick else None,
        fidelity_rows=5 if args.quick else 10,
        progress=not args.quick,
    )
    print(f"saved {saved.tag} ({saved.report.explainer.method} explainer)")
    print("chosen:", saved.report.explainer.chosen_because)
    print("test metrics:", {k: round(v, 3) for k, v in saved.report.metrics.items()})

    # what the service will do: load the bundle from the store (verified) and explain rows
    bundle = training.load_from_store(saved.tag)
    explanation = bundle.explain(x_test.iloc[:2])
    for row in range(explanation.n_rows):
        top = explanation.top_k(row, output="benign", k=3)
        print(f"row {row}: P(benign) = {explanation.outputs[row, 1]:.3f}; top features {top}")

    if args.build:
        print("bento:", training.build_bento(saved.tag))
    return saved


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.breast_cancer_svc")
    parser.add_argument("--quick", action="store_true", help="a small explainer budget, for a fast run")
    parser.add_argument("--build", action="store_true", help="build the Bento afterwards")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
