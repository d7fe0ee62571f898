"""The BentoML model store side of a bundle: one BentoML model per trained version, the bundle's
files at the top of its folder, the manifest's sha256 in its metadata."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from scoring.bundle import (
    MANIFEST_DIGEST_KEY,
    Bundle,
    load_bundle,
    manifest_digest,
    recorded_digest,
    save_bundle,
)
from scoring.signing import signing_key_from


def save_to_store(
    name: str,
    bundle: Bundle,
    *,
    files: dict[str, bytes] | None = None,
    labels: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
    signing_key: bytes | None = None,
) -> tuple[str, Path]:
    """Write `bundle` as a new version of the BentoML model `name`; returns (tag, folder).

    The bundle is written and checked in a scratch folder first, so that the manifest's sha256
    can go into the model's metadata, then copied into the store. It is signed with
    `signing_key`, by default the key in BUNDLE_SIGNING_KEY / BUNDLE_SIGNING_KEY_FILE if set.
    """
    import bentoml

    key = signing_key if signing_key is not None else signing_key_from()
    with tempfile.TemporaryDirectory(prefix="bundle-") as scratch:
        folder = Path(scratch) / "bundle"
        manifest = save_bundle(folder, bundle, files=files, signing_key=key)
        info = {
            **(metadata or {}),
            MANIFEST_DIGEST_KEY: manifest_digest(folder),
            "bundle_format": manifest["format_version"],
            "explainer": manifest["explainer"],
            "libraries": manifest["libraries"],
            "signed": key is not None,
        }
        with bentoml.models.create(name, labels=labels or {}, metadata=info) as model:
            shutil.copytree(folder, model.path, dirs_exist_ok=True)
        tag = str(model.tag)
    return tag, Path(bentoml.models.get(tag).path)


def load_from_store(tag: str) -> Bundle:
    """Load and verify a stored bundle, its manifest checked against the sha256 kept in the
    store's metadata (what the service does: `bentoml.models.get(tag)`, then `load_bundle`)."""
    import bentoml

    model = bentoml.models.get(tag)
    return load_bundle(model.path, manifest_sha256=recorded_digest(model.info.metadata, tag))
