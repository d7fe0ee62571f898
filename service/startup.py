"""Fail fast: a bundle that cannot be served stops `bentoml serve`, instead of a worker that
BentoML restarts every ~10 s while every endpoint, /livez included, hangs.

`exit_on_bundle_error(load, tag=...)` runs `load()` and returns what it returns. A BundleError
becomes one ERROR line naming the tag and the file or library at fault (no traceback), then:
- in the `bentoml serve` process itself (before workers start, e.g. at import or in an
  `on_deployment` hook) and anywhere else outside a worker: SystemExit(1), so the command exits 1;
- in a BentoML worker: the worker tells its supervisor (its parent, `bentoml serve`) with
  SIGUSR2 and ends at once (os._exit(1)). `arm_supervisor()`, called when the service module is
  imported by `bentoml serve`, makes that signal a shutdown (circus's own SIGTERM handling: no
  worker is started again) that ends with exit status 1. Unarmed, SIGUSR2 would end the
  supervisor by default (or, as PID 1 in a container, be ignored).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from scoring.errors import BundleError

logger = logging.getLogger("bentoml.service.explained_model.startup")

T = TypeVar("T")
FATAL_SIGNAL = signal.SIGUSR2
_fatal = False


def exit_on_bundle_error(load: Callable[[], T], *, tag: str) -> T:
    """`load()`, or a logged message and the end of the server when it raises BundleError."""
    try:
        return load()
    except BundleError as error:
        message = f"cannot serve bundle {tag}: {error}"
    logger.error("%s", message)
    print(f"explained_model: {message}", file=sys.stderr, flush=True)
    if in_worker():
        stop_supervisor()
        logging.shutdown()
        os._exit(1)
    raise SystemExit(1)


def in_worker() -> bool:
    """Whether this process is a worker started by `bentoml serve` (its supervisor is the parent)."""
    from bentoml._internal.context import server_context

    return server_context.worker_index is not None


def stop_supervisor() -> None:
    """Tell the parent `bentoml serve` process that this worker cannot serve (see arm_supervisor)."""
    try:
        os.kill(os.getppid(), FATAL_SIGNAL)  # in a container the supervisor is PID 1: armed, it listens
    except (ProcessLookupError, PermissionError):
        pass


def arm_supervisor() -> None:
    """In the `bentoml serve` process: a worker's FATAL_SIGNAL shuts the server down, exit status 1.

    Does nothing in a worker, and where signals cannot be set (not the main thread)."""
    if in_worker():
        return
    try:
        signal.signal(FATAL_SIGNAL, _on_fatal)
    except ValueError:
        return
    atexit.register(_exit_status)


def _on_fatal(signum: int, frame: FrameType | None) -> None:
    global _fatal
    _fatal = True
    logger.error("a worker could not load its bundle: stopping the server")
    shutdown = signal.getsignal(signal.SIGTERM)
    if callable(shutdown):
        shutdown(signal.SIGTERM, frame)  # circus's handler: a graceful stop, no restart
    else:
        raise SystemExit(1)


def _exit_status() -> None:
    if _fatal:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
