"""No code from the store, and signed bundles: a planted pickle with re-sealed digests is refused
before it is unpickled; with a signing key, any change (re-sealed digests included) is refused."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest

from scoring.bundle import MANIFEST, MODEL_SKOPS, load_bundle, manifest_digest, save_bundle
from scoring.errors import BundleError
from scoring.signing import SIGNATURE, SigningKeyError, check_signature, signing_key_from
from service.config import Settings
from service.loading import load_served_bundle, verify_served_bundle
from tests.service.bundles import logistic_bundle
from tests.service.planted import Payload, plant_pickle, widen_range

KEY = b"k" * 32


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny bundle saved unsigned and signed with KEY."""
    root = tmp_path_factory.mktemp("bundles")
    bundle = logistic_bundle(n_features=3)
    save_bundle(root / "plain", bundle)
    save_bundle(root / "signed", bundle, signing_key=KEY)
    return root / "plain", root / "signed"


def copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def serve(folder: Path, digest: str | None = None, **options: object) -> object:
    metadata = {"manifest_sha256": digest or manifest_digest(folder)}
    return load_served_bundle(folder, metadata, name="m", version="v", **options)  # type: ignore[arg-type]


def test_the_payload_is_real(tmp_path: Path) -> None:
    """The planted pickle does run code when unpickled: what the refusal below keeps from happening."""
    import pickle

    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.read_text() == "payload ran"


def test_a_planted_pickle_with_resealed_digests_is_refused_and_never_runs(
    written: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = copy(written[0], tmp_path)
    marker = tmp_path / "ran"
    digest = plant_pickle(folder, marker)
    with pytest.raises(BundleError, match=r"model\.joblib.*pickle.*refused.*ALLOW_PICKLE_BUNDLES"):
        serve(folder, digest)
    with pytest.raises(BundleError, match="pickle"):
        verify_served_bundle(folder, {"manifest_sha256": digest}, signing_key=None, allow_pickle=False)
    assert not marker.exists()
    # the documented opt-in is the only way to it (and then the payload runs: hence the refusal)
    with contextlib.suppress(Exception):  # what the payload leaves is no model
        serve(folder, digest, allow_pickle=True)
    assert marker.exists()


def test_a_pickle_posing_as_skops_is_refused_and_never_runs(
    written: tuple[Path, Path], tmp_path: Path
) -> None:
    import pickle

    from tests.service.planted import reseal

    folder = copy(written[0], tmp_path)
    marker = tmp_path / "ran"
    (folder / MODEL_SKOPS).write_bytes(pickle.dumps(Payload(marker)))
    digest = reseal(folder)
    with pytest.raises(BundleError, match=r"model\.skops.*not a skops file"):
        serve(folder, digest)
    assert not marker.exists()


def test_digests_alone_cannot_tell_a_resealed_schema(written: tuple[Path, Path], tmp_path: Path) -> None:
    """What signing adds: a re-sealed change passes every digest, but not the signature."""
    folder = copy(written[1], tmp_path)
    digest = widen_range(folder)
    served = serve(folder, digest)  # no key: the attack goes through
    assert served.bundle.schema.features[0].maximum > 1e6  # type: ignore[attr-defined]
    with pytest.raises(BundleError, match=f"{SIGNATURE}.*does not match"):
        serve(folder, digest, signing_key=KEY)


def test_a_signed_bundle_loads_with_its_key(written: tuple[Path, Path]) -> None:
    served = serve(written[1], signing_key=KEY)
    assert served.bundle.schema.names == ("x0", "x1", "x2")  # type: ignore[attr-defined]
    check_signature(written[1], MANIFEST, KEY)


@pytest.mark.parametrize("where", [MANIFEST, "schema.json", MODEL_SKOPS, "explainer/explainer.json"])
def test_a_signed_bundle_with_one_changed_byte_is_refused(
    written: tuple[Path, Path], tmp_path: Path, where: str
) -> None:
    folder = copy(written[1], tmp_path)
    data = bytearray((folder / where).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / where).write_bytes(bytes(data))
    with pytest.raises(BundleError):
        serve(folder, manifest_digest(folder), signing_key=KEY)


def test_unsigned_or_other_key_is_refused(written: tuple[Path, Path]) -> None:
    with pytest.raises(BundleError, match="not signed"):
        serve(written[0], signing_key=KEY)
    with pytest.raises(BundleError, match="another key"):
        serve(written[1], signing_key=b"o" * 32)


def test_a_signature_file_is_no_listed_file(written: tuple[Path, Path]) -> None:
    manifest = json.loads((written[1] / MANIFEST).read_text())
    assert SIGNATURE not in manifest["files"] and (written[1] / SIGNATURE).is_file()
    load_bundle(written[1])  # a signed bundle read without a key is still a valid bundle


def test_signing_key_settings(tmp_path: Path) -> None:
    assert signing_key_from({}) is None
    assert signing_key_from({"BUNDLE_SIGNING_KEY": "s" * 20}) == b"s" * 20
    (tmp_path / "key").write_bytes(b"f" * 24 + b"\n")
    assert signing_key_from({"BUNDLE_SIGNING_KEY_FILE": str(tmp_path / "key")}) == b"f" * 24
    with pytest.raises(SigningKeyError, match="not both"):
        signing_key_from({"BUNDLE_SIGNING_KEY": "s" * 20, "BUNDLE_SIGNING_KEY_FILE": str(tmp_path / "key")})
    with pytest.raises(SigningKeyError, match="at least 16"):
        signing_key_from({"BUNDLE_SIGNING_KEY": "short"})
    with pytest.raises(SigningKeyError, match="cannot be read"):
        signing_key_from({"BUNDLE_SIGNING_KEY_FILE": str(tmp_path / "missing")})


def test_service_settings_for_bundle_safety() -> None:
    settings = Settings.from_env({"ALLOW_PICKLE_BUNDLES": "true", "BUNDLE_SIGNING_KEY": "s" * 20})
    assert settings.allow_pickle_bundles and settings.signing_key == b"s" * 20
    assert "s" * 20 not in repr(settings)
    assert not Settings.from_env({}).allow_pickle_bundles
    with pytest.raises(ValueError, match="ALLOW_PICKLE_BUNDLES"):
        Settings.from_env({"ALLOW_PICKLE_BUNDLES": "maybe"})
