"""The seed guide's local walkthrough (examples/reference_walkthrough.py), with only its imports
changed, runs end to end: explainers, raw features, scoring explainer saved and loaded, the
bundle and explanations in a real (temporary) model store, the notebook dashboard."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_walkthrough_runs_with_only_its_imports_changed(bentoml_home: Path) -> None:
    scope = runpy.run_path(str(ROOT / "examples" / "reference_walkthrough.py"), run_name="walkthrough")
    model, x_test = scope["model"], scope["x_test"]
    local = scope["local_explanation"]
    values = np.array(local.local_importance_values)  # classes x rows x features
    assert values.shape == (2, 5, 30)
    # each row's values add up to the model's probability, from the expected value
    assert np.allclose(
        values.sum(axis=2).T + local.expected_values, model.predict_proba(x_test[:5]), atol=1e-6
    )
    assert scope["global_explanation"].method == "shap.kernel"
    assert scope["mimic_global"].method == "mimic.lightgbm" and scope["mimic"].fidelity_ > 0.5
    # the loaded scoring explainer gives the training-time explainer's values
    assert np.allclose(scope["preds"], scope["explainer"].explain_local(x_test).local_importance_values)
    assert scope["explanation"].get_ranked_global_names() == scope[
        "global_explanation"
    ].get_ranked_global_names(top_k=4)
    assert scope["dashboard"].url.startswith("http://127.0.0.1:")
