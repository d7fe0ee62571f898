"""The container's build stage: bring one bundle into a model store of its own and say what the
serving image must install for it.

    python -m training.image --bundle TAG --imports DIR --out DIR

Every `*.bentomodel` file in `--imports` (written by `bentoml models export TAG DIR`) is imported
first. The bundle `TAG` must then be in the store; the default bundle is trained when it is not.
It is loaded and verified as the service will, then written to `--out`: `models/` (a model store
holding that one version, as `latest` too) and `requirements.txt` (the serving dependencies of
pyproject.toml plus the extra of the bundle's model library: lightgbm, xgboost), which the image
installs with the project's lock as constraints, and `apt-packages.txt` (system libraries that
library needs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = "breast_cancer_svc:latest"


def import_exports(folder: Path) -> list[str]:
    """Import every exported bundle in `folder` into the model store; their tags."""
    import bentoml

    tags = []
    for file in sorted(folder.glob("*.bentomodel")):
        tags.append(str(bentoml.models.import_model(str(file.resolve())).tag))
        print(f"imported {file.name}: {tags[-1]}")
    return tags


def serving_requirements(
    model_libraries: list[str], pyproject: Path = PROJECT_DIR / "pyproject.toml"
) -> list[str]:
    """The service's dependencies, and the extra of each model library the bundle needs."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    requirements = list(project["dependencies"])
    for library in model_libraries:
        requirements += extras.get(library, [])
    return requirements


def prepare(tag: str, imports: Path, out: Path) -> str:
    """Import, (train the default bundle if needed,) verify and copy the bundle; its exact tag."""
    import bentoml
    from bentoml.exceptions import NotFound

    from training.store import load_from_store

    if imports.is_dir():
        import_exports(imports)
    try:
        stored = bentoml.models.get(tag)
    except NotFound:
        if tag != DEFAULT_BUNDLE:
            raise SystemExit(
                f"bundle {tag} is not in the build context's {imports.name}/ folder: "
                f"export it there first (bentoml models export {tag} {imports.name}/)"
            ) from None
        subprocess.run([sys.executable, "-m", "training", "--no-build", "--quiet"], check=True)
        stored = bentoml.models.get(tag)
    bundle = load_from_store(str(stored.tag))  # verified as the service will verify it
    models = out / "models" / stored.tag.name
    shutil.copytree(stored.path, models / str(stored.tag.version))
    (models / "latest").write_text(str(stored.tag.version))
    libraries = [lib for lib in bundle.manifest.get("model_libraries", []) if lib != "scikit-learn"]
    (out / "requirements.txt").write_text("\n".join(serving_requirements(libraries)) + "\n")
    # LightGBM's wheel needs the system's OpenMP runtime, which slim images lack
    (out / "apt-packages.txt").write_text("libgomp1\n" if "lightgbm" in libraries else "")
    return str(stored.tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.image", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=os.environ.get("BUNDLE") or DEFAULT_BUNDLE)
    parser.add_argument("--imports", type=Path, default=Path("bundles"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = prepare(args.bundle, args.imports, args.out)
    print(f"bundle for the image: {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
