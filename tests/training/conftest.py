"""Small fitted models, and running `python` against a temporary BENTOML_HOME (the store
itself: tests/conftest.py's `bentoml_home`)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.tables import mixed_frame, reference_preprocessor

ROOT = Path(__file__).resolve().parents[2]


def run_python(
    *args: str, home: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python <args>` from the repository root with BENTOML_HOME set to `home`."""
    environ = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def mixed() -> tuple[pd.DataFrame, pd.Series]:
    return mixed_frame()


@pytest.fixture(scope="session")
def mixed_pipeline(mixed: tuple[pd.DataFrame, pd.Series]) -> Any:
    X, y = mixed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Pipeline(
            [("preprocessor", reference_preprocessor()), ("classifier", LogisticRegression())]
        ).fit(X, y)
