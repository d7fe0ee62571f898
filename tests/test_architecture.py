"""The one rule of direction: service -> scoring <- training, batch -> scoring; scoring stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "scoring": {"bentoml", "pydantic", "starlette", "fastapi", "training", "service", "batch"},
    "service": {"training", "batch"},
    "training": {"service"},
    # batch uses scoring and the model store (bentoml), never the service or training
    "batch": {"service", "training", "pydantic", "starlette", "fastapi"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_direction(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package]) for f in files}
    offenders = {f: bad for f, bad in offenders.items() if bad}
    assert not offenders, f"{package} must not import {sorted(FORBIDDEN[package])}: {offenders}"


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import bentoml\nfrom training.package import x\n")
    assert imported_packages(bad) >= {"bentoml", "training"}


def test_batch_explains_with_scoring_from_the_model_store() -> None:
    """batch answers with the engine and reads bundles from the model store, as the service does."""
    used = set().union(*(imported_packages(f) for f in (ROOT / "batch").rglob("*.py")))
    assert {"scoring", "bentoml", "distributed"} <= used
