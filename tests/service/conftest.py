"""Service test fixtures: a BentoML model store in a temporary folder holding tiny bundles, and an
in-process client of the service (`ExplainedModel.to_asgi()`) serving one of them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh BentoML home for this session's bundles; BentoML's own store is left alone."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    home = tmp_path_factory.mktemp("bentoml_home")
    (home / "models").mkdir()
    with BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))):
        yield home


@pytest.fixture(scope="session")
def stored(model_store: Path) -> Callable[[str], str]:
    """`stored(name)`: the tag of tiny bundle `name` (see tests.service.bundles.BUILDERS), saved
    to the session's store on first use."""
    from tests.service.bundles import BUILDERS, store_bundle

    tags: dict[str, str] = {}

    def tag(name: str) -> str:
        if name not in tags:
            tags[name] = store_bundle(f"test_{name}", BUILDERS[name]())
        return tags[name]

    return tag
