"""Batch fixtures: a real BentoML model store in a temporary BENTOML_HOME holding tiny bundles
written by the real writers, and tables generated as Parquet or CSV."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.bundle import Bundle
from tests.service.bundles import BUILDERS, store_bundle


@functools.cache
def built(name: str) -> Bundle:
    return BUILDERS[name]()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """BENTOML_HOME set to a fresh folder for this process (and any subprocess)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    home = tmp_path / "client-home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    with BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))):
        yield home


def stored(name: str) -> str:
    """Save the tiny bundle `name` into the current model store; its tag."""
    return store_bundle(name, built(name))


def numbers(bundle: Bundle, n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, len(bundle.schema.names))), columns=list(bundle.schema.names))


def read_output(folder: Path) -> pd.DataFrame:
    """Every partition file of a job's output, as one frame (pyarrow's reader skips hidden files)."""
    import pyarrow.dataset as ds

    return ds.dataset(str(folder), format="parquet").to_table().to_pandas()
