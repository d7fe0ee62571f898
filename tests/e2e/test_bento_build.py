"""`bentoml build` with the repository's bentofile.yaml works offline and packages the service,
the engine and the served bundle, nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.server import ROOT, store_bundle_in
from tests.service.bundles import logistic_bundle

pytestmark = pytest.mark.e2e


def test_bento_builds_offline_with_the_bundle(tmp_path: Path) -> None:
    home = tmp_path / "bentoml_home"
    tag, _ = store_bundle_in(home, "bento_probe", logistic_bundle(n_features=3))
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "BUNDLE": tag,
        # no index: a build that tried to resolve or download packages would fail here
        "PIP_NO_INDEX": "1",
        "UV_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(ROOT), "-f", "bentofile.yaml", "-o", "tag"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    bento_tag = next(
        line.split("__tag__:", 1)[1].strip() for line in done.stdout.splitlines() if "__tag__:" in line
    )
    name, version = bento_tag.split(":")
    bento = home / "bentos" / name / version
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    assert [m["tag"] for m in info["services"][0]["models"]] == [tag]
    assert {r["route"] for r in info["schema"]["routes"]} == {"/predict", "/global_importance", "/metadata"}
    src = bento / "src"
    assert (src / "service" / "service.py").is_file() and (src / "scoring" / "bundle.py").is_file()
    assert (src / "service" / "dashboard" / "static" / "index.html").is_file()
    packaged = {p.relative_to(src).parts[0] for p in src.rglob("*") if p.is_file()}
    assert packaged == {"service", "scoring", "bentofile.yaml"}  # BentoML keeps the bentofile beside the code
    assert not list(src.rglob("__pycache__"))
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "bentoml==1.4.39" in requirements and "scikit-learn==" in requirements
