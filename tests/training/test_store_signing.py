"""Training signs the bundles it stores when a signing key is set (BUNDLE_SIGNING_KEY), and the
signature is what the service checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.bundle import MANIFEST, load_bundle
from scoring.errors import BundleError
from scoring.signing import SIGNATURE, check_signature
from tests.service.bundles import logistic_bundle
from training.store import save_to_store

KEY = b"training-key-0123456789"


def test_a_key_in_the_environment_signs_the_stored_bundle(
    bentoml_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bentoml

    monkeypatch.setenv("BUNDLE_SIGNING_KEY", KEY.decode())
    tag, path = save_to_store("signed_logistic", logistic_bundle(n_features=3))
    assert (path / SIGNATURE).is_file() and bentoml.models.get(tag).info.metadata["signed"] is True
    check_signature(path, MANIFEST, KEY)
    load_bundle(path, signing_key=KEY)
    with pytest.raises(BundleError, match="another key"):
        load_bundle(path, signing_key=b"x" * 24)


def test_without_a_key_nothing_is_signed(bentoml_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUNDLE_SIGNING_KEY", raising=False)
    monkeypatch.delenv("BUNDLE_SIGNING_KEY_FILE", raising=False)
    _, path = save_to_store("plain_logistic", logistic_bundle(n_features=3))
    assert not (path / SIGNATURE).exists()
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(path, signing_key=KEY)
