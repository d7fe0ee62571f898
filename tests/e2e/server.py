"""A real `bentoml serve service:ExplainedModel` in a subprocess, on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BENTOML = Path(sys.executable).parent / "bentoml"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def rss(self) -> int:
        """Resident memory (bytes) of the server's whole process tree."""
        import psutil

        root = psutil.Process(self.process.pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store_bundle_in(home: Path, name: str, bundle: Any) -> tuple[str, Path]:
    """Save `bundle` into the model store under `home` (the one the server will read); (tag, folder)."""
    import bentoml
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    from tests.service.bundles import store_bundle

    (home / "models").mkdir(parents=True, exist_ok=True)
    with BentoMLContainer.model_store.patch(ModelStore(str(home / "models"))):
        tag = store_bundle(name, bundle)
        return tag, Path(bentoml.models.get(tag).path)


@contextlib.contextmanager
def serve(
    home: Path,
    tag: str | None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    target: str = "service:ExplainedModel",
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Start `bentoml serve <target>` (the service from the repository, or a Bento's tag) on
    bundle `tag` (None: no BUNDLE, the Bento's own) from the store under `home`, in `cwd`; stop
    its process group after."""
    port = free_port()
    log = home / f"serve-{port}.log"
    environ = {
        **{k: v for k, v in os.environ.items() if k != "BUNDLE"},
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        **({} if tag is None else {"BUNDLE": tag}),
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BENTOML), "serve", target, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, timeout)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {server.process.returncode}:\n{server.log_tail()}")
        if "Initializing service error" in server.log.read_text(errors="replace"):
            raise RuntimeError(f"the service failed to start:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"bentoml serve was not ready after {timeout:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
