"""Training data: the default dataset (scikit-learn's breast cancer) or a CSV file, and the split."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

# a numeric target with at most this many distinct integer values is taken for class labels
MAX_CLASSES = 20


@dataclass(frozen=True)
class Dataset:
    """Features and labels, with what the labels mean."""

    name: str
    X: pd.DataFrame
    y: pd.Series
    task: str  # "classification" | "regression"
    class_names: tuple[str, ...] | None = None  # display names, in sorted label order
    dropped_rows: int = 0  # rows left out because their target was missing

    @property
    def target(self) -> str:
        return str(self.y.name)


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def load_default() -> Dataset:
    """The breast-cancer data that ships with scikit-learn (569 rows, 30 numeric features)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    y = data.target.rename("diagnosis")
    return Dataset(
        name="breast_cancer",
        X=data.data,
        y=y,
        task="classification",
        class_names=tuple(str(c) for c in data.target_names),
    )


def load_csv(
    path: str | Path, target: str, *, task: str = "auto", drop_missing_target: bool = False
) -> Dataset:
    """A CSV file with one row per example; `target` names the label column. Rows whose target
    is missing stop the load unless `drop_missing_target`, which leaves them out (and counts them)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {path}")
    frame = pd.read_csv(path)
    if target not in frame.columns:
        raise ValueError(
            f"target column {target!r} is not in {path.name}; its columns are {list(frame.columns)}"
        )
    missing = frame[target].isna()
    dropped = int(missing.sum())
    if dropped and not drop_missing_target:
        raise ValueError(
            f"target column {target!r} has {dropped} missing values; "
            "--drop-missing-target leaves those rows out"
        )
    frame = frame.loc[~missing].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"{path.name} has no row with a value in {target!r}")
    y = frame[target]
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise ValueError(f"{path.name} has no feature columns besides {target!r}")
    task = infer_task(y) if task == "auto" else task
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    return Dataset(name=path.stem, X=X, y=y, task=task, dropped_rows=dropped)


def bundle_name(*parts: str) -> str:
    """A model-store name from parts such as the file, the target and the model family:
    lowercase letters, digits and underscores (BentoML's names allow no spaces or capitals)."""
    text = "_".join(parts).lower()
    name = re.sub(r"[^a-z0-9_.-]+", "_", text).strip("_.-")
    return name or "model"


def infer_task(y: pd.Series) -> str:
    """Classification for text, boolean or few-valued integer labels; regression otherwise."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    integral = bool((y == y.round()).all())
    return "classification" if integral and y.nunique() <= MAX_CLASSES else "regression"


def split(data: Dataset, *, test_size: float = 0.2, seed: int = 0) -> Split:
    """train_test_split(test_size=0.2, random_state=0), as the reference design does."""
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=test_size, random_state=seed
    )
    return Split(X_train, X_test, y_train, y_test)
