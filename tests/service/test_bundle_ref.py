"""Which bundle the service serves: BUNDLE, else the Bento's own, else the default; and which
processes check for it at import (bentoml serve and its workers, not builds or tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from service.bundle_ref import (
    DEFAULT_BUNDLE,
    MissingBundleError,
    bundle_tag,
    packed_bundle,
    require_stored,
    starts_a_server,
)


def _bento_file(tmp_path: Path, tags: list[str]) -> Path:
    info = {"services": [{"name": "explained_model", "models": [{"tag": t} for t in tags]}], "models": []}
    path = tmp_path / "bento.yaml"
    path.write_text(yaml.safe_dump(info))
    return path


def test_the_bento_s_own_bundle_is_served_unless_bundle_is_set(tmp_path: Path) -> None:
    bento = _bento_file(tmp_path, ["mine:abc123"])
    assert packed_bundle(bento) == "mine:abc123"
    assert bundle_tag({}, bento_file=bento) == "mine:abc123"
    assert bundle_tag({"BUNDLE": "other:latest"}, bento_file=bento) == "other:latest"
    assert bundle_tag({"BUNDLE": ""}, bento_file=bento) == "mine:abc123"


def test_outside_a_bento_the_default(tmp_path: Path) -> None:
    assert packed_bundle(tmp_path / "bento.yaml") is None
    assert bundle_tag({}, bento_file=tmp_path / "bento.yaml") == DEFAULT_BUNDLE
    assert packed_bundle(_bento_file(tmp_path, [])) is None


def test_which_processes_check_at_import() -> None:
    assert starts_a_server(["/venv/bin/bentoml", "serve", "service:ExplainedModel"])
    assert starts_a_server(["/venv/lib/python3.11/site-packages/_bentoml_impl/worker/service.py", "x"])
    assert not starts_a_server(["/venv/bin/bentoml", "build", "."])
    assert not starts_a_server(["/venv/bin/pytest", "tests"])
    assert not starts_a_server([])


def test_a_missing_bundle_is_named(model_store: Path) -> None:
    with pytest.raises(MissingBundleError, match=r"bundle nowhere:latest is not in the model store"):
        require_stored("nowhere:latest")
