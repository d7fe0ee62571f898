"""Which bundle the service serves: `BUNDLE` if set, else the one packed into the Bento being
served, else the default. Resolved once at import, before BentoML starts any worker, so a
missing bundle stops `bentoml serve` at once with a message naming the tag (no restart loop)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_BUNDLE = "breast_cancer_svc:latest"
# a Bento keeps its code under <bento>/src and its description in <bento>/bento.yaml
BENTO_FILE = Path(__file__).resolve().parents[2] / "bento.yaml"


class MissingBundleError(RuntimeError):
    """The bundle the service is asked to serve is not in the model store."""


def packed_bundle(bento_file: Path = BENTO_FILE) -> str | None:
    """The tag of the bundle packed into the Bento whose code this is, or None outside a Bento."""
    if not bento_file.is_file():
        return None
    info: dict[str, Any] = yaml.safe_load(bento_file.read_text()) or {}
    for service in info.get("services") or []:
        for model in service.get("models") or []:
            return str(model["tag"])
    return None


def bundle_tag(environ: Mapping[str, str] = os.environ, *, bento_file: Path = BENTO_FILE) -> str:
    """`BUNDLE` when set, else the Bento's own bundle, else `breast_cancer_svc:latest`."""
    return environ.get("BUNDLE") or packed_bundle(bento_file) or DEFAULT_BUNDLE


def require_stored(tag: str) -> Any:
    """The stored BentoML model of `tag`; MissingBundleError, naming the tag and the store, when
    it is not in the model store."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.get(tag)
    except NotFound:
        home = os.environ.get("BENTOML_HOME", "~/bentoml")
        raise MissingBundleError(
            f"bundle {tag} is not in the model store ({home}/models): train it "
            f"(python -m training), import it (bentoml models import FILE) or set BUNDLE to a stored tag"
        ) from None


def starts_a_server(argv: list[str] | None = None) -> bool:
    """Whether this process is `bentoml serve` (or one of its workers), not a build or a test."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else ""
    return (program == "bentoml" and argv[1:2] == ["serve"]) or "_bentoml_impl" in (argv[0] if argv else "")


def exit_unless_servable(tag: str, *, signing_key: bytes | None = None, allow_pickle: bool = False) -> None:
    """Under `bentoml serve`: stop the process (exit 1) with one clear line when `tag` is missing
    from the store or fails verification (signature when `signing_key` is given, digests, a
    pickled model unless `allow_pickle`, library versions), before BentoML starts workers that
    would only fail and be restarted."""
    from scoring.errors import BundleError
    from service.loading import verify_served_bundle

    try:
        stored = require_stored(tag)
        verify_served_bundle(
            stored.path, stored.info.metadata, signing_key=signing_key, allow_pickle=allow_pickle
        )
    except (MissingBundleError, BundleError) as error:
        print(f"explained_model: cannot serve {tag}: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
