"""The BentoML service (`bentoml serve service:ExplainedModel`), its request checks, batching and
response bodies. Imports `scoring`, never `training`."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # imported on first use, so `service.requests` and friends load without BentoML
    if name == "ExplainedModel":
        from service.service import ExplainedModel

        return ExplainedModel
    raise AttributeError(f"module 'service' has no attribute {name!r}")
