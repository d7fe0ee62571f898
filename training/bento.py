"""Building the Bento: `bentoml build` over the project's bentofile.yaml, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENTOFILE = "bentofile.yaml"


class BuildError(RuntimeError):
    """`bentoml build` failed or cannot run."""


def missing_service(project_dir: str | Path = PROJECT_DIR, *, bentofile: str = BENTOFILE) -> str | None:
    """Why a Bento cannot be built from `project_dir` (no bentofile, no service module), or None."""
    project_dir = Path(project_dir)
    config_file = project_dir / bentofile
    if not config_file.is_file():
        return f"no {bentofile} in {project_dir}"
    config = yaml.safe_load(config_file.read_text()) or {}
    service = str(config.get("service", ""))
    if ":" not in service:
        return f"{bentofile} names no service (expected 'service: module:Class')"
    module = service.split(":")[0].replace(".", "/")
    if not ((project_dir / f"{module}.py").is_file() or (project_dir / module / "__init__.py").is_file()):
        return f"the service module {module!r} named in {bentofile} is not in {project_dir}"
    return None


def build_bento(
    tag: str | None = None,
    *,
    project_dir: str | Path = PROJECT_DIR,
    bentofile: str = BENTOFILE,
    timeout: float = 600,
) -> str:
    """Build the Bento that serves bundle `tag` (a model-store tag; `name` means its latest
    version) and return the Bento's tag. The Bento packs exactly that version and serves it
    by default (`bentoml serve <bento tag>`, no environment needed; `BUNDLE` still overrides).
    Without `tag`, the service's own choice: `BUNDLE`, else `breast_cancer_svc:latest`.

    Runs `bentoml build` in a subprocess (the service module is imported by the build, and
    BentoML reads its home from the environment), with usage tracking off. Offline it needs the
    bentofile to set `python.lock_packages: false`; uv comes from the dev requirements.
    """
    project_dir = Path(project_dir)
    reason = missing_service(project_dir, bentofile=bentofile)
    if reason is not None:
        raise BuildError(f"cannot build a Bento: {reason}")
    command = [sys.executable, "-m", "bentoml", "build", str(project_dir), "-f", bentofile, "-o", "tag"]
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    if tag is not None:
        env["BUNDLE"] = stored_version(tag)
    try:
        done = subprocess.run(
            command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"bentoml build did not finish in {timeout:.0f} s") from e
    tags = [line.split("__tag__:", 1)[1].strip() for line in done.stdout.splitlines() if "__tag__:" in line]
    if done.returncode != 0 or not tags:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BuildError(f"bentoml build failed (exit {done.returncode}):\n{tail}")
    return tags[-1]


def stored_version(tag: str) -> str:
    """`name:version` of `tag` in the model store (the latest version for `name` or `name:latest`);
    BuildError naming the tag and the store when it is not there."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    try:
        return str(bentoml.models.get(tag).tag)
    except BentoMLException:
        home = os.environ.get("BENTOML_HOME", "~/bentoml")
        raise BuildError(
            f"cannot build a Bento for bundle {tag}: it is not in the model store ({home}/models)"
        ) from None


if __name__ == "__main__":
    print(build_bento(sys.argv[1] if len(sys.argv) > 1 else None))
