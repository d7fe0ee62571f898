"""The baseline of `bench.bench_service`: a BentoML service explaining every request with shap's
KernelExplainer, as the reference design's scoring script does:

    explainer = shap.KernelExplainer(model.predict_proba, shap.kmeans(x_train, 10))
    shap_values = explainer.shap_values(rows)          # per request

The explainer is built once at start-up (the kind reading of the reference: building it per
request would only make the baseline slower). The model is the served bundle's (BUNDLE); the
training rows come from the .npy file named by BASELINE_X_TRAIN.

    BUNDLE=breast_cancer_svc:latest BASELINE_X_TRAIN=x.npy bentoml serve bench.baseline_service:KernelBaseline
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import bentoml
import numpy as np
import pandas as pd

from scoring.bundle import load_bundle


@bentoml.service(name="kernel_baseline", workers=1, traffic={"timeout": 600})
class KernelBaseline:
    bundle_model = bentoml.models.BentoModel(os.environ.get("BUNDLE") or "breast_cancer_svc:latest")

    def __init__(self) -> None:
        import shap

        bundle = load_bundle(self.bundle_model.path)
        self.model = bundle.model
        self.names = list(bundle.schema.names)
        x_train = np.load(os.environ["BASELINE_X_TRAIN"], allow_pickle=False)
        self.explainer = shap.KernelExplainer(self._predict_proba, shap.kmeans(x_train, 10))

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # feature-name warnings on arrays
            return np.asarray(self.model.predict_proba(pd.DataFrame(X, columns=self.names)))

    @bentoml.api
    def predict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        X = pd.DataFrame(rows)[self.names].astype(float)
        predictions = self.model.predict(X)
        values = self.explainer.shap_values(X.to_numpy(), silent=True)
        values = np.asarray(values)  # (n, M, K) in shap 0.51
        return {
            "predictions": np.asarray(predictions).tolist(),
            "local_importance_values": values.tolist(),
            "expected_values": np.atleast_1d(self.explainer.expected_value).tolist(),
        }
