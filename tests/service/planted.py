"""Attacks on a stored bundle by someone who can write the model store: files changed and the
digests re-sealed (the manifest's file list and the store's `manifest_sha256`), and a pickle whose
payload leaves a marker file when it runs."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import yaml

from scoring.bundle import MANIFEST, MODEL_JOBLIB, MODEL_SKOPS, UNLISTED


class Payload:
    """Unpickling this runs code: it writes `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",)


def reseal(folder: Path) -> str:
    """Recompute the manifest's digests of every file, as an attacker would; the manifest's new
    sha256 (and, for a store folder, written into its model.yaml metadata)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel != MANIFEST and rel not in UNLISTED:
            files[rel] = hashlib.sha256(file.read_bytes()).hexdigest()
    manifest["files"] = files
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    store_file = folder / "model.yaml"
    if store_file.is_file():
        info = yaml.safe_load(store_file.read_text())
        info.setdefault("metadata", {})["manifest_sha256"] = digest
        store_file.write_text(yaml.safe_dump(info))
    return digest


def plant_pickle(folder: Path, marker: Path) -> str:
    """Replace the model by a pickle that runs code, say so in the manifest, re-seal; the sha256."""
    (folder / MODEL_SKOPS).unlink(missing_ok=True)
    (folder / MODEL_JOBLIB).write_bytes(pickle.dumps(Payload(marker)))
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["model_format"] = "joblib"
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return reseal(folder)


def widen_range(folder: Path, factor: float = 1e9) -> str:
    """Widen every numeric range in schema.json (what a re-sealed schema attack did), re-seal."""
    schema = json.loads((folder / "schema.json").read_text())
    text = json.dumps(schema)
    for feature in schema.get("features", []):
        for key in ("minimum", "maximum"):
            if isinstance(feature.get(key), (int, float)):
                feature[key] = feature[key] * factor
    if json.dumps(schema) == text:
        raise AssertionError("schema.json has no numeric range to widen")
    (folder / "schema.json").write_text(json.dumps(schema, indent=1))
    return reseal(folder)
