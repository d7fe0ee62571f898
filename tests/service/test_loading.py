"""Loading the served bundle from the store: the manifest digest recorded in the store's metadata
is required and checked, and the bundle's own digests and versions after it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scoring.bundle import MANIFEST, save_bundle
from scoring.errors import BundleError
from service.loading import load_served_bundle, verify_served_bundle
from tests.service.bundles import logistic_bundle


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    save_bundle(tmp_path / "b", logistic_bundle(n_features=3))
    return tmp_path / "b"


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()


def test_loads_with_the_recorded_digest(folder: Path) -> None:
    served = load_served_bundle(folder, {"manifest_sha256": digest(folder)}, name="m", version="v1")
    assert served.tag == "m:v1" and served.bundle.schema.names == ("x0", "x1", "x2")


@pytest.mark.parametrize("metadata", [{}, {"manifest_sha256": ""}, {"manifest_sha256": None}])
def test_digest_is_required(folder: Path, metadata: dict) -> None:
    with pytest.raises(BundleError, match="manifest_sha256"):
        load_served_bundle(folder, metadata, name="m", version="v1")
    with pytest.raises(BundleError, match="manifest_sha256"):
        verify_served_bundle(folder, metadata, signing_key=None, allow_pickle=False)


def test_changed_manifest_is_refused(folder: Path) -> None:
    recorded = digest(folder)
    (folder / MANIFEST).write_text((folder / MANIFEST).read_text() + "\n")
    with pytest.raises(BundleError, match="modified"):
        load_served_bundle(folder, {"manifest_sha256": recorded}, name="m", version="v1")


def test_changed_file_is_refused(folder: Path) -> None:
    (folder / "schema.json").write_text((folder / "schema.json").read_text().replace("x0", "y0"))
    with pytest.raises(BundleError, match=r"schema\.json"):
        load_served_bundle(folder, {"manifest_sha256": digest(folder)}, name="m", version="v1")


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a bundle"):
        load_served_bundle(tmp_path, {"manifest_sha256": "0" * 64}, name="m", version="v1")
