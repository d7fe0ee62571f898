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
        try:
            with TestClient(ExplainedModel.to_asgi(), raise_server_exceptions=False) as client:
                yield client
        finally:
            forget_bentoml_metrics()


def forget_bentoml_metrics() -> None:
    """Unregister the request metrics BentoML's middleware created for an app, so that the next
    in-process app of this test session can create them again (else: DuplicateTimeseries, a 500)."""
    from prometheus_client import REGISTRY

    names = REGISTRY._names_to_collectors  # prometheus_client has no lookup by name
    for collector in {
        c for n, c in list(names.items()) if n.startswith(("bentoml_service_", "bentoml_runner_"))
    }:
        REGISTRY.unregister(collector)
