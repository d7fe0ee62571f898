"""The Dockerfile, built and run without a Docker engine (buildah + podman, by
../shared/container/ci-container-smoke.sh), answers a real POST /predict.

Runs when RUN_CONTAINER_SMOKE=1, or when buildah and podman are installed (RUN_CONTAINER_SMOKE=0
skips it). The first run installs the tools and makes a local Debian base: minutes.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ROOT, free_port

SCRIPT = Path(
    os.environ.get("CONTAINER_SMOKE_SCRIPT", ROOT.parent / "shared" / "container" / "ci-container-smoke.sh")
)
WORK = Path(os.environ.get("WORK", "/tmp/ci-container"))
NAME = "ci-app-smoke"  # the container name the script uses


def _reason_to_skip() -> str | None:
    wanted = os.environ.get("RUN_CONTAINER_SMOKE")
    if wanted == "0":
        return "RUN_CONTAINER_SMOKE=0"
    if not SCRIPT.is_file():
        return f"no container smoke script at {SCRIPT}"
    if wanted != "1" and not (shutil.which("buildah") and shutil.which("podman")):
        return "buildah/podman not installed (set RUN_CONTAINER_SMOKE=1 to install them and run)"
    return None


pytestmark = [
    pytest.mark.container,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(_reason_to_skip() is not None, reason=str(_reason_to_skip())),
]


def test_container_serves_explained_predictions() -> None:
    from sklearn.datasets import load_breast_cancer

    port = free_port()
    env = {
        **os.environ,
        "WORK": str(WORK),
        "PY_STANDIN": "1",  # FROM python:3.11-slim resolves to a local Debian stand-in
        "KEEP_RUNNING": "1",
        "HOST_PORT": str(port),
        "READY_TIMEOUT": "300",
    }
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), str(ROOT), "3000", "/readyz"],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        url = f"http://127.0.0.1:{port}"
        row = load_breast_cancer(as_frame=True).data.iloc[0].to_dict()
        r = httpx.post(url + "/predict", json={"rows": [row], "top_k": 5}, timeout=120)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"]["name"] == "breast_cancer_svc"
        assert body["predictions"][0] in ("malignant", "benign")
        (item,) = body["explanations"]
        assert item["method"] == "amortized" and item["target"] == body["predictions"][0]  # auto's pick
        assert len(item["attributions"]) == 6 and item["attributions"][-1]["feature"] == "(other)"
        total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
        assert math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)
        bad = httpx.post(url + "/predict", json={"rows": [{**row, "mean radius": "big"}]}, timeout=60)
        assert bad.status_code == 400 and bad.json()["field"] == "mean radius"
    finally:
        containers = {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(WORK / "storage.conf"),
            "CONTAINERS_CONF": str(WORK / "containers.conf"),
        }
        if shutil.which("podman"):
            subprocess.run(
                ["podman", "rm", "-f", "-t", "0", NAME], env=containers, capture_output=True, check=False
            )
