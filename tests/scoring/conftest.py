"""Tiny problems fitted once per session, and brute-force ground truth over a given background."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from scoring.background import Background
from tests.scoring.ground_truth import shapley_table


@dataclass
class Problem:
    """A fitted black-box model, its training rows, rows to explain, and the explained f."""

    name: str
    model: Any
    X: np.ndarray
    rows: np.ndarray
    f: Callable[[np.ndarray], np.ndarray]
    _truth: dict[bytes, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def truth(self, background: Background, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force (phi (n, M, K), base (K,)) of `rows` (default: `self.rows`) over
        `background`, cached."""
        rows = self.rows if rows is None else rows
        key = background.rows.tobytes() + background.weights.tobytes() + rows.tobytes()
        if key not in self._truth:
            self._truth[key] = shapley_table(self.f, rows, background.rows, background.weights)
        return self._truth[key]


@pytest.fixture(scope="session")
def multiclass() -> Problem:
    """A 3-class MLP over 8 features: smooth, non-additive, explained in probability space."""
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=5, n_redundant=1, n_classes=3, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on a tiny problem is fine
        model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0).fit(X, y)
    return Problem("multiclass", model, X, X[:4], model.predict_proba)


@pytest.fixture(scope="session")
def regression() -> Problem:
    """A boosted regressor over 10 features (depth-3 trees: interactions), explained raw."""
    X, y = make_regression(n_samples=300, n_features=10, n_informative=6, noise=1.0, random_state=0)
    model = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(X, y)

    def f(Z: np.ndarray) -> np.ndarray:
        return model.predict(Z)[:, None]

    return Problem("regression", model, X, X[:3], f)


@pytest.fixture(scope="session", params=["multiclass", "regression"])
def problem(request: pytest.FixtureRequest) -> Problem:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_process() -> Iterator[None]:
    """Tiny problems gain nothing from OpenMP threads, and on a busy machine (2 cores, other test
    runs) scikit-learn's k-means spins its threads and runs 20x slower."""
    with threadpool_limits(limits=1):
        yield
