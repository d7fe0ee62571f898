"""End-to-end fixtures: each module starts its own `bentoml serve` on a bundle in a temporary store."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "container: builds and runs the Docker image (RUN_CONTAINER_SMOKE=1, or buildah present)"
    )
