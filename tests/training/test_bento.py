"""Building the Bento offline: `bentoml build` over a bentofile with lock_packages false."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.bento import BuildError, build_bento, missing_service

SERVICE = """
import bentoml


@bentoml.service
class Probe:
    bundle = bentoml.models.BentoModel("probe_bundle:latest")

    @bentoml.api
    def ping(self, x: int) -> int:
        return x
"""
BENTOFILE = """
service: "probe:Probe"
include:
  - "probe.py"
python:
  requirements_txt: "requirements.lock"
  lock_packages: false
"""


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "probe.py").write_text(SERVICE)
    (root / "bentofile.yaml").write_text(BENTOFILE)
    (root / "requirements.lock").write_text("numpy==2.4.6\n")
    return root


def test_why_a_bento_cannot_be_built(tmp_path: Path) -> None:
    assert "no bentofile.yaml" in (missing_service(tmp_path) or "")
    (tmp_path / "bentofile.yaml").write_text('service: "nowhere:Svc"\n')
    assert "'nowhere'" in (missing_service(tmp_path) or "")
    (tmp_path / "bentofile.yaml").write_text("python: {}\n")
    assert "names no service" in (missing_service(tmp_path) or "")
    with pytest.raises(BuildError, match="cannot build"):
        build_bento(project_dir=tmp_path)


@pytest.mark.slow
def test_build_a_bento_offline(bentoml_home: Path, tmp_path: Path) -> None:
    import bentoml

    with bentoml.models.create("probe_bundle") as model:
        (Path(model.path) / "x.txt").write_text("x")
    project = _project(tmp_path / "project")
    assert missing_service(project) is None
    tag = build_bento(project_dir=project)
    assert tag.startswith("probe:")
    bento = bentoml.get(tag)
    assert Path(bento.path).is_relative_to(bentoml_home)
    assert [str(m.tag) for m in bento.info.all_models] == [str(bentoml.models.get("probe_bundle:latest").tag)]
    assert (Path(bento.path) / "env" / "python" / "requirements.txt").is_file()


@pytest.mark.slow
def test_a_failed_build_says_why(bentoml_home: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "project")  # the model it names is not in this store
    with pytest.raises(BuildError, match="bentoml build failed"):
        build_bento(project_dir=project)
