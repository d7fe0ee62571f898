"""The Dockerfile, built and run without a Docker engine (buildah + podman, by
tests/e2e/container/smoke.sh): an image of a user's own bundle (not the default one) answers a
real POST /predict exactly as the host does, and the default image still builds with no arguments.

Opt-in, as it builds images for minutes: `make container-test` (RUN_CONTAINER_SMOKE=1). The first
run installs buildah and podman from Debian's packages and makes a local Debian base image.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.server import ROOT, free_port
from tests.tables import user_table

SCRIPT = ROOT / "tests" / "e2e" / "container" / "smoke.sh"
WORK = Path(os.environ.get("WORK", "/tmp/ci-container"))
NAME = "ci-app-smoke"  # the container name the script uses
# at most 800 MB on python:3.11-slim (about 130 MB): what the Dockerfile adds to the base image.
# The tests build on a Debian stand-in for that base, which is bigger (about 290 MB).
LAYERS_BUDGET = 670e6
# what the image is built from: the files a clone of the repository has
CONTEXT = (
    *("Dockerfile", ".dockerignore", "pyproject.toml", "requirements.lock"),
    *("scoring", "training", "service"),
)

pytestmark = [
    pytest.mark.container,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("RUN_CONTAINER_SMOKE") != "1", reason="builds images: RUN_CONTAINER_SMOKE=1 runs it"
    ),
]


def _context(tmp: Path) -> Path:
    context = tmp / "context"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=ignore)
        else:
            context.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / name)
    (context / "bundles").mkdir()
    return context


def _build_and_run(context: Path, build_args: str = "") -> tuple[str, int]:
    """Build and start the image; its URL and size in bytes (the container keeps running)."""
    port = free_port()
    env = {
        **os.environ,
        "WORK": str(WORK),
        "PY_STANDIN": "1",  # FROM python:3.11-slim resolves to a local Debian stand-in
        "KEEP_RUNNING": "1",
        "HOST_PORT": str(port),
        "READY_TIMEOUT": "300",
        "EXTRA_BUILD_ARGS": build_args,
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), str(context), "3000", "/readyz"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    size = int((WORK / "image-size-bytes").read_text().strip())
    inspect = ["podman", "image", "inspect", "--format", "{{.Size}}", "python:3.11-slim"]
    base = int(subprocess.run(inspect, env=_podman_env(), capture_output=True, text=True).stdout.strip())
    print(
        f"image size: {size / 1e6:.0f} MB on the {base / 1e6:.0f} MB Debian python stand-in; "
        f"the Dockerfile's layers: {(size - base) / 1e6:.0f} MB ({build_args or 'the default bundle'})"
    )
    return f"http://127.0.0.1:{port}", size - base


def _podman_env() -> dict[str, str]:
    return {
        **os.environ,
        "CONTAINERS_STORAGE_CONF": str(WORK / "storage.conf"),
        "CONTAINERS_CONF": str(WORK / "containers.conf"),
    }


@pytest.fixture
def cleanup() -> Iterator[None]:
    yield
    if shutil.which("podman"):
        remove = ["podman", "rm", "-f", "-t", "0", NAME]
        subprocess.run(remove, env=_podman_env(), capture_output=True, check=False)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def test_an_image_of_your_own_bundle_answers_as_the_host(
    bentoml_home: Path, tmp_path: Path, cleanup: None
) -> None:
    """Train a bundle from a CSV (HGB, missing values), export it into the build context,
    build with --build-arg BUNDLE=<tag>: the container serves that bundle, equal to the host's."""
    import bentoml

    from tests.training.conftest import run_python
    from training import load_from_store

    table = user_table(3000, seed=3)
    table.to_csv(tmp_path / "churn.csv", index=False)
    csv = ["--csv", str(tmp_path / "churn.csv"), "--target", "churned"]
    done = run_python("-m", "training", *csv, "--no-build", "--quiet", home=bentoml_home)
    assert done.returncode == 0, done.stderr[-2000:]
    tag = str(bentoml.models.get("churn_churned_hist_gradient_boosting:latest").tag)
    context = _context(tmp_path)
    bentoml.models.export_model(tag, str(context / "bundles" / "churn.bentomodel"))

    url, added = _build_and_run(context, f"BUNDLE={tag}")
    assert added <= LAYERS_BUDGET, f"the Dockerfile adds {added / 1e6:.0f} MB"

    rows = [_json_row(r) for r in table.drop(columns="churned").iloc[:8].to_dict("records")]
    rows[1]["region"] = "atlantis"  # an unseen category
    r = httpx.post(url + "/predict", json={"rows": rows, "target": "all"}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": tag.split(":")[0], "version": tag.split(":")[1]}

    host = load_from_store(tag)
    frame = host.schema.validate(rows)
    prediction = host.predict(frame)
    explanation = host.explain(frame)
    assert body["predictions"] == [str(p) for p in prediction.labels]
    names = list(explanation.output_names)
    served = {(e["row"], e["target"]): e for e in body["explanations"]}
    for i in range(len(rows)):
        for k, output in enumerate(names):
            item = served[(i, output)]
            values = {a["feature"]: a["value"] for a in item["attributions"]}
            expected = dict(zip(explanation.feature_names, explanation.values[i, :, k], strict=True))
            assert values.keys() == expected.keys()
            np.testing.assert_allclose([values[f] for f in expected], list(expected.values()), atol=1e-12)
            assert item["output"] == pytest.approx(explanation.outputs[i, k], abs=1e-12)


def test_the_default_image_needs_no_arguments(tmp_path: Path, cleanup: None) -> None:
    from sklearn.datasets import load_breast_cancer

    url, added = _build_and_run(_context(tmp_path))
    assert added <= LAYERS_BUDGET, f"the Dockerfile adds {added / 1e6:.0f} MB"
    row = load_breast_cancer(as_frame=True).data.iloc[0].to_dict()
    r = httpx.post(url + "/predict", json={"rows": [row], "top_k": 5}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["name"] == "breast_cancer_svc"
    (item,) = body["explanations"]
    total = item["base_value"] + sum(a["value"] for a in item["attributions"]) + item["residual"]
    assert math.isclose(total, item["output"], rel_tol=1e-9, abs_tol=1e-9)
    bad = httpx.post(url + "/predict", json={"rows": [{**row, "mean radius": "big"}]}, timeout=60)
    assert bad.status_code == 400 and bad.json()["field"] == "mean radius"
