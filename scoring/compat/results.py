"""The engine explanation's JSON form (for uploads that keep it), and the names this module
used to hold: `LocalExplanation` now lives in `scoring.compat.explanation`, `ModelTask` in
`scoring.compat.constants`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scoring.explanation import Explanation, Level, Method, Space


def explanation_to_json(explanation: Explanation) -> dict[str, Any]:
    """The engine explanation's arrays and labels (not its input data) as JSON-ready lists."""
    return {
        "values": explanation.values.tolist(),
        "base_values": explanation.base_values.tolist(),
        "outputs": explanation.outputs.tolist(),
        "feature_names": list(explanation.feature_names),
        "output_names": list(explanation.output_names),
        "space": str(explanation.space),
        "method": str(explanation.method),
        "level": str(explanation.level),
        "stderr": None if explanation.stderr is None else explanation.stderr.tolist(),
    }


def explanation_from_json(doc: Mapping[str, Any]) -> Explanation:
    n_features = len(doc["feature_names"])
    n_outputs = len(doc["output_names"])
    values = np.asarray(doc["values"], dtype=float).reshape(-1, n_features, n_outputs)
    stderr = doc.get("stderr")
    return Explanation(
        values=values,
        base_values=np.asarray(doc["base_values"], dtype=float),
        outputs=np.asarray(doc["outputs"], dtype=float).reshape(-1, n_outputs),
        feature_names=tuple(doc["feature_names"]),
        output_names=tuple(doc["output_names"]),
        space=Space(doc["space"]),
        method=Method(doc["method"]),
        level=Level(doc["level"]),
        stderr=None if stderr is None else np.asarray(stderr, dtype=float).reshape(values.shape),
    )
