"""A worker limits its BLAS/OpenMP threads (BLAS_THREADS, default 1): the explainers' matrix
products are small, and a second BLAS thread costs more CPU than it saves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from threadpoolctl import OpenBLASController, threadpool_info, threadpool_limits

from service.config import Settings
from tests.service.service_client import serve_in_process


def limits() -> dict[str, int]:
    """Each BLAS/OpenMP library's thread count, as the calling thread sees it."""
    return {pool["filepath"]: int(pool["num_threads"]) for pool in threadpool_info()}


def test_the_setting_is_read_and_checked() -> None:
    assert Settings.from_env({}).blas_threads == 1
    assert Settings.from_env({"BLAS_THREADS": "3"}).blas_threads == 3
    with pytest.raises(ValueError, match="blas_threads"):
        Settings.from_env({"BLAS_THREADS": "0"})


@pytest.mark.parametrize("threads", [1, 2])
def test_the_worker_sets_its_blas_threads(stored: Callable[[str], str], threads: int) -> None:
    import bentoml

    import service.service as served

    if not limits():
        pytest.skip("no BLAS/OpenMP library that threadpoolctl can see")
    before = threadpool_info()
    threadpool_limits(limits=3 - threads)  # the other value, so the worker must change it
    # threadpoolctl lets one thread at a time set OpenBLAS's (process-wide) limit; in a worker no
    # other thread has taken it, here the test's thread just did
    OpenBLASController.clear_controlling_thread(force=True)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(served, "SETTINGS", replace(served.SETTINGS, blas_threads=threads))
            with serve_in_process(stored("mixed")) as client:
                assert client.get("/readyz").status_code == 200
                service = bentoml.get_current_service()
                # in the thread that explains: OpenBLAS's limit is process-wide, OpenMP's per thread
                seen = service.batcher._executor.submit(limits).result(timeout=30)
                assert set(seen.values()) == {threads}, seen
    finally:
        for pool in before:
            threadpool_limits(limits=pool["num_threads"], user_api=pool["user_api"])
