"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes on 127.0.0.1 and
free ports, each worker with its own empty BENTOML_HOME and local directory; every process is
started in its own session and only those are stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.server import _stop as stop_group
from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).parent / "dask"


@dataclass
class Cluster:
    address: str
    folder: Path
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def home(self, i: int) -> Path:
        """Worker i's BENTOML_HOME (its own model store, empty at start)."""
        return self.folder / f"worker-{i}-home"

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker i's whole process group (its nanny and the worker process)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2, timeout: float = 60) -> Iterator[Cluster]:
    folder.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, "PYTHONPATH": str(ROOT), "BENTOML_DO_NOT_TRACK": "true"}
    address, scheduler = _start_scheduler(folder, base, timeout)
    cluster = Cluster(address, folder, scheduler)
    try:
        for i in range(n_workers):
            home = cluster.home(i)
            (home / "models").mkdir(parents=True)
            cluster.workers.append(
                _start(
                    [
                        str(DASK), "worker", address, "--name", f"worker-{i}", "--nthreads", "1",
                        "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard",
                        "--local-directory", str(folder / f"worker-{i}-scratch"),
                    ],
                    folder / f"worker-{i}.log",
                    {**base, "BENTOML_HOME": str(home)},
                )
            )  # fmt: skip
        _wait_for_workers(cluster, n_workers, timeout)
        yield cluster
    finally:
        for process in [*cluster.workers, scheduler]:
            if process.poll() is None:
                stop_group(process)


def _start_scheduler(
    folder: Path, env: dict[str, str], timeout: float
) -> tuple[str, subprocess.Popen[bytes]]:
    """A scheduler listening on a free port; another port if the chosen one was taken meanwhile."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        port = free_port()
        log = folder / "scheduler.log"
        cmd = [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
        scheduler = _start(cmd, log, env)
        while time.monotonic() < deadline and scheduler.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return f"tcp://127.0.0.1:{port}", scheduler
            time.sleep(0.2)
        if time.monotonic() >= deadline:
            stop_group(scheduler)
            raise RuntimeError(
                f"dask scheduler did not listen in {timeout:.0f} s:\n{log.read_text()[-3000:]}"
            )


def _wait_for_workers(cluster: Cluster, n: int, timeout: float) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited:\n{cluster.log('scheduler')}")
        try:
            with Client(cluster.address, timeout=5) as client:
                client.wait_for_workers(n, timeout=max(deadline - time.monotonic(), 1))
                return
        except (OSError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"{n} dask workers did not join in {timeout:.0f} s:\n{cluster.log('worker-0')}")
