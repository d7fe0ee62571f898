"""A bundle whose model skops cannot hold safely (a FunctionTransformer of a function of ours):
saved as a joblib pickle, served only when the operator opts in."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from scoring import make_explainer
from scoring.bundle import Bundle
from scoring.schema import Schema


def double(Z: Any) -> Any:
    return Z * 2.0


def pickled_bundle() -> Bundle:
    X, y = make_classification(n_samples=200, n_features=3, n_informative=3, n_redundant=0, random_state=4)
    frame = pd.DataFrame(X, columns=["p0", "p1", "p2"])
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(frame, y)
    explainer = make_explainer(model, frame, "exact", n_background=5)
    schema = Schema.from_frame(frame, task="classification", classes=[str(c) for c in model.classes_])
    return Bundle(model=model, explainer=explainer, schema=schema, report={})
