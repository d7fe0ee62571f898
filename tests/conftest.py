"""Fixtures for every test package: a real BentoML model store in a temporary BENTOML_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
