"""Signed bundles: an HMAC-SHA256 of the manifest under a key the model store does not hold.

The manifest lists the sha256 of every other file, so its signature vouches for the whole bundle.
Digests alone catch corruption and accidents, but whoever can write the store can also re-seal
them; without the key, nobody can write a signature the service will accept.

The key comes from `BUNDLE_SIGNING_KEY` (the key itself) or `BUNDLE_SIGNING_KEY_FILE` (a file
holding it; surrounding whitespace is ignored), at least 16 bytes; never both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path

from scoring.errors import BundleError

SIGNATURE = "manifest.sig"
ALGORITHM = "hmac-sha256"
KEY_ENV = "BUNDLE_SIGNING_KEY"
KEY_FILE_ENV = "BUNDLE_SIGNING_KEY_FILE"
MIN_KEY_BYTES = 16


class SigningKeyError(ValueError):
    """A signing key setting that cannot be used (both set, unreadable file, too short)."""


def signing_key_from(environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The signing key from `BUNDLE_SIGNING_KEY` or the file named by `BUNDLE_SIGNING_KEY_FILE`;
    None when neither is set."""
    raw, file = environ.get(KEY_ENV) or None, environ.get(KEY_FILE_ENV) or None
    if raw is not None and file is not None:
        raise SigningKeyError(f"set {KEY_ENV} or {KEY_FILE_ENV}, not both")
    if raw is not None:
        key = raw.strip().encode()
        source = KEY_ENV
    elif file is not None:
        try:
            key = Path(file).read_bytes().strip()
        except OSError as e:
            raise SigningKeyError(f"{KEY_FILE_ENV}={file!r} cannot be read: {e.strerror}") from None
        source = f"the file {file}"
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise SigningKeyError(f"the signing key from {source} has {len(key)} bytes; at least {MIN_KEY_BYTES}")
    return key


def signature(manifest: bytes, key: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def write_signature(path: str | Path, manifest_name: str, key: bytes) -> None:
    """Sign the bundle in folder `path` (its manifest file `manifest_name`)."""
    path = Path(path)
    doc = {"algorithm": ALGORITHM, "signature": signature((path / manifest_name).read_bytes(), key)}
    (path / SIGNATURE).write_text(json.dumps(doc, indent=1, sort_keys=True))


def check_signature(path: str | Path, manifest_name: str, key: bytes) -> None:
    """Raise BundleError unless the bundle in `path` carries a valid signature under `key`."""
    path = Path(path)
    file = path / SIGNATURE
    if not file.is_file():
        raise BundleError(
            f"bundle {path} is not signed ({SIGNATURE} is missing), but the service is given a "
            "signing key: only bundles signed with that key are served"
        )
    try:
        doc = json.loads(file.read_text())
        algorithm, claimed = doc["algorithm"], doc["signature"]
    except (ValueError, KeyError, TypeError):
        raise BundleError(f"{SIGNATURE} in {path} is not a signature this version reads") from None
    if algorithm != ALGORITHM or not isinstance(claimed, str):
        raise BundleError(f"{SIGNATURE} in {path} uses {algorithm!r}; this version checks {ALGORITHM}")
    expected = signature((path / manifest_name).read_bytes(), key)
    if not hmac.compare_digest(expected, claimed):
        raise BundleError(
            f"{SIGNATURE} in {path} does not match {manifest_name}: the bundle was changed after it "
            "was signed, or signed with another key"
        )
