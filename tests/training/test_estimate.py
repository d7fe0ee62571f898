"""The fit-time estimate counts the amortized explainer's sampled evaluations as walk steps where
the model has a walk path (scoring.walks), at their measured cost."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from scoring.explanation import Method
from training.estimate import explainer_fit, walk_step_seconds


def test_a_bare_svc_is_estimated_by_its_walk_steps_and_a_pipeline_by_its_rows() -> None:
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    bare = SVC(probability=True, random_state=0).fit(X, y)
    piped = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)).fit(X, y)
    step = walk_step_seconds(bare, X)
    assert step is not None and step > 0
    assert walk_step_seconds(piped, X) is None
    walked = explainer_fit(Method.AMORTIZED, bare, X, fit_evaluations=None)
    built = explainer_fit(Method.AMORTIZED, piped, X, fit_evaluations=None)
    assert walked is not None and built is not None
    assert "walk step" in walked.basis and "walk step" not in built.basis

    # 4x the labels and reference on the walk path, counted in the evaluations it names
    def millions(what: str) -> float:
        return float(what.split("(")[1].split(" M")[0])

    assert millions(walked.what) > 3 * millions(built.what)
    assert np.isfinite(walked.seconds) and walked.seconds > 0
