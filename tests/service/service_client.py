"""An in-process client of the service serving a given stored bundle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient


@contextmanager
def serve_in_process(tag: str) -> Iterator[TestClient]:
    """The service's ASGI app, loaded with the bundle `tag`, behind a TestClient (lifespan run)."""
    import bentoml

    from service.service import ExplainedModel

    inner = ExplainedModel.inner  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inner, "bundle_model", bentoml.models.BentoModel(tag))
        with TestClient(ExplainedModel.to_asgi(), raise_server_exceptions=False) as client:
            yield client
