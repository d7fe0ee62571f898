"""The floor of `bench.bench_request_path`: a minimal BentoML 1.4 service with /predict's shape
(the same request type, `service.schemas.PredictRequest`, and a response of the same size) that
computes nothing. What it costs per request is BentoML's own share (HTTP, routing, input
validation, JSON); what the served endpoint costs above it is ours.

The response is the served endpoint's own answer to one row (read from the JSON file named by
FLOOR_TEMPLATE), repeated for every row sent.

    FLOOR_TEMPLATE=one_row.json bentoml serve bench.floor_service:Floor
"""

from __future__ import annotations

import json
import os
from typing import Any

import bentoml
from starlette.responses import JSONResponse, Response

from service.schemas import PredictRequest, PredictResponse


@bentoml.service(name="floor", workers=1, traffic={"timeout": 120})
class Floor:
    def __init__(self) -> None:
        with open(os.environ["FLOOR_TEMPLATE"]) as f:
            self.template: dict[str, Any] = json.load(f)

    @bentoml.api(route="/predict", input_spec=PredictRequest, output_spec=PredictResponse)
    async def predict(
        self,
        rows: Any = None,
        explain: Any = True,
        top_k: Any = None,
        level: Any = "raw",
        target: Any = "predicted",
        max_ms: Any = None,
        precision: Any = None,
    ) -> Response:
        n = len(rows) if isinstance(rows, list) else 1
        t = self.template
        items = [dict(item, row=i) for i in range(n) for item in t["explanations"]]
        return JSONResponse(
            {
                "model": t["model"],
                "predictions": t["predictions"] * n,
                "probabilities": t["probabilities"] * n if t["probabilities"] is not None else None,
                "explanations": items,
            }
        )
