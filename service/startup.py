"""Fail fast: a bundle that cannot be served stops `bentoml serve`, instead of a worker that
BentoML restarts every ~10 s while every endpoint, /livez included, hangs.

`exit_on_bundle_error(load, tag=...)` runs `load()` and returns what it returns. A BundleError
becomes one ERROR line naming the tag and the file or library at fault (no traceback), then:
- in the `bentoml serve` process itself (before workers start, e.g. at import or in an
  `on_deployment` hook) and anywhere else outside a worker: SystemExit(1), so the command exits 1;
- in a BentoML worker: the supervisor (the worker's parent, `bentoml serve`) is asked to stop
  (SIGTERM: it shuts down without restarting the worker) and the worker ends at once with
  os._exit(1). The supervisor's own exit status is then 0: that is why the checks belong in the
  serving process, before any worker starts, and this path is the backstop.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

from scoring.errors import BundleError

logger = logging.getLogger("bentoml.service.explained_model.startup")

T = TypeVar("T")


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
    """Ask the parent `bentoml serve` process to shut down (it then starts no worker again)."""
    parent = os.getppid()
    if parent > 1:
        try:
            os.kill(parent, signal.SIGTERM)
        except ProcessLookupError:
            pass
