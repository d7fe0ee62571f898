"""Loading the served bundle from the BentoML model store, with the store's own digest checked."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.bundle import MANIFEST, Bundle, load_bundle, verify_bundle
from scoring.errors import BundleError

MANIFEST_DIGEST_KEY = "manifest_sha256"


@dataclass(frozen=True)
class ServedBundle:
    """A verified, loaded bundle and the model-store name and version it was read from."""

    bundle: Bundle
    name: str
    version: str
    path: Path

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"


def check_manifest_digest(path: str | Path, metadata: Mapping[str, Any]) -> None:
    """Raise BundleError unless the store's metadata holds the sha256 of the bundle's manifest.

    The manifest holds every other file's digest (checked by `load_bundle`), so this ties the
    whole folder to what was recorded when the model was saved to the store.
    """
    expected = metadata.get(MANIFEST_DIGEST_KEY)
    if not isinstance(expected, str) or not expected:
        raise BundleError(
            f"the model store's metadata for {path} has no '{MANIFEST_DIGEST_KEY}'; "
            "save bundles with the training CLI or record the manifest's sha256 in the metadata"
        )
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        raise BundleError(f"no {MANIFEST} in {path}: not a bundle")
    actual = hashlib.sha256(manifest.read_bytes()).hexdigest()
    if actual != expected:
        raise BundleError(
            f"{MANIFEST} in {path} has sha256 {actual[:12]}..., but the model store recorded "
            f"{expected[:12]}...: the bundle was modified after it was saved"
        )


def load_served_bundle(
    path: str | Path,
    metadata: Mapping[str, Any],
    *,
    name: str,
    version: str,
    signing_key: bytes | None = None,
    allow_pickle: bool = False,
) -> ServedBundle:
    """Check the store's manifest digest, then verify (signature when `signing_key` is given,
    digests, no pickle unless `allow_pickle`, library versions) and load."""
    check_manifest_digest(path, metadata)
    bundle = load_bundle(path, signing_key=signing_key, allow_pickle=allow_pickle)
    return ServedBundle(bundle=bundle, name=name, version=version, path=Path(path))


def verify_served_bundle(
    path: str | Path, metadata: Mapping[str, Any], *, signing_key: bytes | None, allow_pickle: bool
) -> None:
    """Every check `load_served_bundle` makes before it loads anything (nothing in the bundle
    runs): cheap enough for the `bentoml serve` process before any worker starts."""
    check_manifest_digest(path, metadata)
    verify_bundle(path, signing_key=signing_key, allow_pickle=allow_pickle)


def manifest_digest(path: str | Path) -> str:
    """The value to record under `manifest_sha256` when saving a bundle to the store."""
    return hashlib.sha256((Path(path) / MANIFEST).read_bytes()).hexdigest()
