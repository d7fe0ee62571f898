"""A real BentoML model store in a temporary BENTOML_HOME, and small fitted models."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.tables import mixed_frame, reference_preprocessor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bentoml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """BENTOML_HOME set to a fresh folder, for this process and its subprocesses.

    BentoML resolves its home once per process, so the stores it already made are swapped too.
    """
    from bentoml._internal.bento.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    home = tmp_path / "bentoml"
    for sub in ("models", "bentos", "tmp", "envs"):
        (home / sub).mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    with (
        BentoMLContainer.bentoml_home.patch(str(home)),
        BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))),
        BentoMLContainer.bento_store.patch(BentoStore(str(home / "bentos"))),
        BentoMLContainer.tmp_bento_store.patch(BentoStore(str(home / "tmp"))),
    ):
        yield home


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
