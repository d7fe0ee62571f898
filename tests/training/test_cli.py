"""`python -m training`: the default run end to end (train, save, build), and a CSV run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.tables import mixed_frame
from tests.training.conftest import run_python
from training import load_from_store
from training.__main__ import main, parse_args
from training.bento import missing_service

QUICK = [
    "--budget",
    "32",
    "--background",
    "4",
    "--fit-evaluations",
    "100000",
    "--importance-rows",
    "8",
    "--fidelity-rows",
    "3",
    "--quiet",
]


@pytest.mark.slow
def test_the_default_run_trains_saves_and_builds(bentoml_home: Path) -> None:
    """The breast-cancer SVC (small explainer budgets keep this quick), in a fresh store, with uv
    and pip told to stay offline. `auto` fits the amortized explainer, measures it and kernel
    (budget 32, background 4) on held-out rows, and keeps the better one."""
    home = bentoml_home
    done = run_python(
        "-m", "training", *QUICK, home=home, timeout=300, env={"UV_OFFLINE": "1", "PIP_NO_INDEX": "1"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Trained SVC on breast_cancer: 455 training rows, 114 test rows" in out
    assert "accuracy 0.904" in out and "amortized (label_evaluations 100000" in out
    chosen = re.search(r"chosen: .* amortized median rel. L2 ([0-9.]+) vs kernel ([0-9.]+)", out)
    assert chosen is not None and float(chosen.group(1)) <= float(chosen.group(2)) + 0.05, out
    assert "median relative L2" in out and "held-out rows" in out
    tag = re.search(r"bundle\s+(breast_cancer_svc:\w+)", out)
    assert tag is not None and (home / "models" / "breast_cancer_svc").is_dir()
    assert missing_service() is None
    bento = re.search(r"bento\s+(\S+:\w+)", out)
    assert bento is not None, out
    name, version = bento.group(1).split(":")
    info = yaml.safe_load((home / "bentos" / name / version / "bento.yaml").read_text())
    assert [m["tag"] for m in info["services"][0]["models"]] == [tag.group(1)]  # that exact version
    assert f"bentoml serve {bento.group(1)} --host 127.0.0.1 --port 3000" in out
    bundle = load_from_store(tag.group(1))
    assert bundle.explainer.method == "amortized" and bundle.schema.classes == ("malignant", "benign")
    assert bundle.report is not None and bundle.report.fidelity is not None
    measured = bundle.report.fidelity.measured_at_fit
    assert measured is not None and measured["kernel"]["params"]["budget"] == 32


def test_a_csv_with_a_mixed_table(
    bentoml_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = mixed_frame(200)
    X.assign(bought=y).to_csv(tmp_path / "shop.csv", index=False)
    csv = ["--csv", str(tmp_path / "shop.csv"), "--target", "bought"]
    assert main([*csv, "--model", "logistic", "--no-build", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Trained Pipeline on shop: 160 training rows, 40 test rows, 5 raw / 9 engineered features" in out
    assert "linear (no parameters) in log_odds space, levels raw+engineered" in out
    tag = re.search(r"bundle\s+(shop_bought_logistic:\w+)\s+\(name shop_bought_logistic, version \w+\)", out)
    assert "exact: closed-form" in out and tag is not None, out
    assert "bento       skipped (--no-build)" in out
    assert f"python -m training.bento {tag.group(1)}" in out
    assert f"BUNDLE={tag.group(1)} bentoml serve service:ExplainedModel" in out


def test_csv_defaults_two_targets_and_missing_labels(
    bentoml_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV gets histogram gradient boosting (NaN and text columns as they are) explained by
    TreeSHAP; two targets of one file get two names; rows without a target stop the run unless
    --drop-missing-target, which counts them; a second run of a name is a new version."""
    X, y = mixed_frame(300)
    table = X.assign(bought=y.astype(float), visits_next=X["visits"] * 2.0 + 1)
    table.loc[[5, 9], "bought"] = np.nan
    csv = tmp_path / "My Shop.csv"
    table.to_csv(csv, index=False)
    with pytest.raises(ValueError, match="2 missing values; --drop-missing-target"):
        main(["--csv", str(csv), "--target", "bought", "--no-build", "--quiet"])
    flags = ["--no-build", "--quiet"]
    assert main(["--csv", str(csv), "--target", "bought", "--drop-missing-target", *flags]) == 0
    first = capsys.readouterr().out
    assert "298 rows" not in first and "2 rows without a target left out" in first
    assert "tree (" in first and "chosen: a tree model: TreeSHAP" in first, first
    assert "bundle      my_shop_bought_hist_gradient_boosting:" in first
    assert main(["--csv", str(csv), "--target", "visits_next", "--drop-missing-target", *flags]) == 0
    assert "bundle      my_shop_visits_next_hist_gradient_boosting:" in capsys.readouterr().out
    assert main(["--csv", str(csv), "--target", "bought", "--drop-missing-target", *flags]) == 0
    capsys.readouterr()
    import bentoml

    versions = bentoml.models.list("my_shop_bought_hist_gradient_boosting")
    assert len(versions) == 2
    bundle = load_from_store("my_shop_bought_hist_gradient_boosting:latest")
    assert bundle.explainer.method == "tree" and bundle.manifest["model_format"] == "skops"
    assert all(f.nullable for f in bundle.schema.features)  # every column of the table has gaps or NaN codes


def test_arguments() -> None:
    args = parse_args([])
    assert (args.model, args.explainer, args.name, args.csv, args.no_build) == (
        "svc",
        "auto",
        None,
        None,
        False,
    )
    with pytest.raises(SystemExit):
        parse_args(["--csv", "x.csv"])  # --target is needed too
    with pytest.raises(SystemExit):
        parse_args(["--model", "xgboost_maybe"])


def test_the_installed_command_runs_outside_the_repository(tmp_path: Path) -> None:
    """`make setup` installs the project: its console script and `import training` work anywhere."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "explained-train"
    assert script.is_file(), "the project is not installed into the venv (make setup)"
    done = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--max-explain-rows" in done.stdout
    probe = "import training, scoring, service; print(training.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert where.returncode == 0, where.stderr
