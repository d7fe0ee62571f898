"""Loading the served bundle from the BentoML model store, with the store's own digest checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.bundle import Bundle, load_bundle, recorded_digest, verify_bundle


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


def load_served_bundle(
    path: str | Path,
    metadata: Mapping[str, Any],
    *,
    name: str,
    version: str,
    signing_key: bytes | None = None,
    allow_pickle: bool = False,
) -> ServedBundle:
    """Verify the bundle against the manifest digest the store recorded (`scoring.bundle`: the
    signature when `signing_key` is given, digests, no pickle unless `allow_pickle`, library
    versions, the report's schema) and load it."""
    bundle = load_bundle(
        path,
        manifest_sha256=recorded_digest(metadata, path),
        signing_key=signing_key,
        allow_pickle=allow_pickle,
    )
    return ServedBundle(bundle=bundle, name=name, version=version, path=Path(path))


def verify_served_bundle(
    path: str | Path, metadata: Mapping[str, Any], *, signing_key: bytes | None, allow_pickle: bool
) -> None:
    """Every check `load_served_bundle` makes before it loads anything (nothing in the bundle
    runs): cheap enough for the `bentoml serve` process before any worker starts."""
    verify_bundle(
        path,
        manifest_sha256=recorded_digest(metadata, path),
        signing_key=signing_key,
        allow_pickle=allow_pickle,
    )
