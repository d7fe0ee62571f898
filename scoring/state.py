"""Explainer state on disk: one JSON file plus plain `.npy` arrays; never a pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scoring.errors import BundleError
from scoring.schema import jsonable

STATE_FILE = "explainer.json"
FORMAT_VERSION = 1


def save_state(path: str | Path, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write `config` as JSON and each array as `<name>.npy`; object arrays go into the JSON."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    numeric, objects = {}, {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind in "biuf":
            np.save(path / f"{name}.npy", arr, allow_pickle=False)
            numeric[name] = f"{name}.npy"
        else:
            objects[name] = jsonable(arr)
    doc = {"format_version": FORMAT_VERSION, **config, "arrays": numeric, "object_arrays": objects}
    (path / STATE_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True))


def load_state(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise BundleError(f"no explainer state at {state_file}")
    doc = json.loads(state_file.read_text())
    if doc.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"explainer state format {doc.get('format_version')} in {state_file}, "
            f"this version reads format {FORMAT_VERSION}"
        )
    arrays = {name: np.load(path / file, allow_pickle=False) for name, file in doc.pop("arrays").items()}
    for name, values in doc.pop("object_arrays").items():
        arrays[name] = np.array(values, dtype=object)
    return doc, arrays
