"""Fail fast: a bundle that fails verification makes a real `bentoml serve` exit non-zero within
seconds, naming the file at fault; no worker restart loop, no hanging health endpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.server import BENTOML, ROOT, free_port, store_bundle_in
from tests.service.bundles import logistic_bundle
from tests.service.planted import plant_pickle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXIT_WITHIN_S = 15.0


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    home = tmp_path_factory.mktemp("failfast_home")
    tag, folder = store_bundle_in(home, "failfast", logistic_bundle(n_features=3))
    return tag, folder


def serve_until_exit(
    home: Path, tag: str, env: dict[str, str] | None = None
) -> tuple[int | None, float, str]:
    """Run `bentoml serve` on `tag`; (exit code or None if still running, seconds, log)."""
    log = home / f"failfast-{time.monotonic_ns()}.log"
    environ = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "BUNDLE": tag,
        **(env or {}),
    }
    port = free_port()
    start = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BENTOML), "serve", "service:ExplainedModel", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        code: int | None = process.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait(timeout=5)
    return code, time.monotonic() - start, log.read_text(errors="replace")


def tampered_home(stored: tuple[str, Path], tmp_path: Path, change: Callable[[Path], None]) -> Path:
    """A copy of the module's store with the bundle changed by `change`."""
    folder = stored[1]
    home = folder.parents[2]
    copy = tmp_path / "home"
    shutil.copytree(home / "models", copy / "models")
    change(copy / folder.relative_to(home))
    return copy


def flip_byte(folder: Path) -> None:
    data = bytearray((folder / "schema.json").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "schema.json").write_bytes(bytes(data))


def test_a_tampered_bundle_makes_serve_exit_non_zero(stored: tuple[str, Path], tmp_path: Path) -> None:
    home = tampered_home(stored, tmp_path, flip_byte)
    code, seconds, log = serve_until_exit(home, stored[0])
    assert code is not None and code != 0, f"still running or exit 0 after {seconds:.1f} s:\n{log[-2000:]}"
    assert "schema.json" in log and "Traceback" not in log


def test_a_planted_pickle_makes_serve_exit_and_never_runs(stored: tuple[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    home = tampered_home(stored, tmp_path, lambda folder: plant_pickle(folder, marker) and None)
    code, seconds, log = serve_until_exit(home, stored[0])
    assert code is not None and code != 0, f"still running or exit 0 after {seconds:.1f} s:\n{log[-2000:]}"
    assert "pickle" in log and "ALLOW_PICKLE_BUNDLES" in log
    assert not marker.exists()


def test_an_unsigned_bundle_under_a_signing_key_makes_serve_exit(
    stored: tuple[str, Path], tmp_path: Path
) -> None:
    home = tampered_home(stored, tmp_path, lambda folder: None)
    code, seconds, log = serve_until_exit(home, stored[0], {"BUNDLE_SIGNING_KEY": "x" * 32})
    assert code is not None and code != 0, f"still running or exit 0 after {seconds:.1f} s:\n{log[-2000:]}"
    assert "not signed" in log


def test_a_pickled_bundle_is_served_only_when_the_operator_opts_in(tmp_path: Path) -> None:
    from tests.e2e.server import serve
    from tests.service.pickled import pickled_bundle

    home = tmp_path / "home"
    tag, folder = store_bundle_in(home, "pickled", pickled_bundle())
    assert (folder / "model.joblib").is_file()
    code, _, log = serve_until_exit(home, tag)
    assert code is not None and code != 0 and "ALLOW_PICKLE_BUNDLES" in log, log[-2000:]
    with serve(home, tag, env={"ALLOW_PICKLE_BUNDLES": "true"}) as server:
        import httpx

        r = httpx.post(
            server.url + "/predict", json={"rows": [{"p0": 0.1, "p1": 0.2, "p2": 0.3}]}, timeout=30
        )
        assert r.status_code == 200, r.text
