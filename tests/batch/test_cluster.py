"""End to end: `python -m batch --scheduler ...` on a real `dask scheduler` + two `dask worker`
processes (each with its own empty model store), against the real `bentoml serve` of the same
bundle; then the same job with one worker killed while it runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from batch import explain_partition
from tests.batch.answers import assert_additive, assert_matches_service, by_id
from tests.batch.cluster import ROOT, Cluster, dask_cluster
from tests.batch.conftest import built, numbers, read_output
from tests.e2e.server import serve, store_bundle_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

N_ROWS = 1500
BUNDLE = "svc"  # the kernel method: sampled, the case where a seed could leak from the batch


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("batch-e2e")
    home = root / "client-home"
    tag, _ = store_bundle_in(home, "batch_svc", built(BUNDLE))
    X = numbers(built(BUNDLE), N_ROWS, seed=21)
    X.to_parquet(root / "table.parquet", row_group_size=200)
    with dask_cluster(root / "cluster", n_workers=2) as cluster:
        yield {"root": root, "home": home, "tag": tag, "X": X, "cluster": cluster}


def batch_cli(setup: dict[str, Any], output: str, *args: str, wait: bool = True) -> Any:
    cmd = [
        sys.executable, "-m", "batch", "--bundle", setup["tag"],
        "--input", str(setup["root"] / "table.parquet"), "--output", str(setup["root"] / output),
        "--quiet", *args,
    ]  # fmt: skip
    env = {**os.environ, "BENTOML_HOME": str(setup["home"]), "BENTOML_DO_NOT_TRACK": "true"}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return by_id(read_output(setup["root"] / output))


def check_rows(out: pd.DataFrame) -> None:
    assert out["row_id"].is_unique
    assert out["row_id"].tolist() == list(range(N_ROWS))
    assert_additive(out, atol=1e-6)


def reference(setup: dict[str, Any]) -> pd.DataFrame:
    """The whole table explained in this process, in one call."""
    if "reference" not in setup:
        setup["reference"] = explain_partition(built(BUNDLE), setup["X"])
    return setup["reference"]


def worker_loads() -> list[str]:
    from batch.workers import LOADS

    return list(LOADS)


def test_a_cluster_explains_every_row_once_as_the_service_does(setup: dict[str, Any]) -> None:
    cluster: Cluster = setup["cluster"]
    two = batch_cli(setup, "two-workers", "--scheduler", cluster.address, "--partition-rows", "125")
    check_rows(two)
    pd.testing.assert_frame_equal(two, reference(setup), check_exact=True)
    # both workers took part, each loaded the bundle once, their own model stores stay empty
    from distributed import Client

    with Client(cluster.address, timeout=10) as client:
        loads = client.run(worker_loads)
    assert len(loads) == 2 and all(len(v) == 1 for v in loads.values())
    for i in range(2):
        assert not any(cluster.home(i).rglob("*.yaml")), "a worker wrote to its model store"
    # another partition size on the same cluster, and a local cluster of one worker: same bits
    bigger = batch_cli(setup, "bigger-partitions", "--scheduler", cluster.address, "--partition-rows", "550")
    pd.testing.assert_frame_equal(bigger, two, check_exact=True)
    one = batch_cli(setup, "one-worker", "--workers", "1", "--partition-rows", "350")
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    # the service's answers for sampled rows are the same numbers
    sample = np.random.default_rng(5).choice(N_ROWS, size=25, replace=False)
    rows = setup["X"].iloc[sample].to_dict("records")
    with serve(setup["home"], setup["tag"]) as server:
        body = httpx.post(server.url + "/predict", json={"rows": rows}, timeout=60).json()
    assert_matches_service(two.iloc[sample].reset_index(drop=True), body)


def test_a_worker_killed_mid_job_leaves_every_row_exactly_once(setup: dict[str, Any]) -> None:
    cluster: Cluster = setup["cluster"]
    output = setup["root"] / "killed"
    job = batch_cli(setup, "killed", "--scheduler", cluster.address, "--partition-rows", "30", wait=False)
    partitions = N_ROWS // 30
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(output.glob("part-*.parquet"))) < 4:
        assert job.poll() is None, job.stderr.read().decode()[-3000:]
        time.sleep(0.02)
    written_before = len(list(output.glob("part-*.parquet")))
    cluster.kill_worker(0)
    assert written_before < partitions, "the job ended before the worker was killed"
    _, stderr = job.communicate(timeout=180)
    assert job.returncode == 0, stderr.decode()[-3000:]
    out = by_id(read_output(output))
    check_rows(out)
    assert len(list(output.glob("part-*.parquet"))) == partitions
    assert not list(output.glob(".tmp-*"))
    pd.testing.assert_frame_equal(out, reference(setup), check_exact=True)
