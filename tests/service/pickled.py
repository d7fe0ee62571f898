"""A bundle whose model skops cannot hold safely (a FunctionTransformer of a function of ours):
saved as a joblib pickle, served only when the operator opts in."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from scoring.bundle import Bundle
from tests.service.bundles import built


def double(Z: Any) -> Any:
    return Z * 2.0


def pickled_bundle() -> Bundle:
    X, y = make_classification(n_samples=200, n_features=3, n_informative=3, n_redundant=0, random_state=4)
    frame = pd.DataFrame(X, columns=["p0", "p1", "p2"])
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(frame, y)
    return built(model, frame, y, explainer="exact", n_background=5)
