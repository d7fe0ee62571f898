"""What the benchmarks share: a model wrapper that counts and times its calls, timing, tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class TimedModel:
    """A fitted classifier whose `predict_proba` counts the rows it is sent and the time it takes.

    Explainers call it like the model itself; the time outside it is the explainer's own.
    """

    def __init__(self, model: Any):
        self.model = model
        self.classes_ = model.classes_
        self.reset()

    def reset(self) -> None:
        self.rows = 0
        self.calls = 0
        self.seconds = 0.0

    def predict_proba(self, X: Any) -> np.ndarray:
        start = time.perf_counter()
        out = self.model.predict_proba(X)
        self.seconds += time.perf_counter() - start
        self.rows += len(X)
        self.calls += 1
        return out


@dataclass
class Run:
    """One timed explanation of `n_rows` rows: its cost, and the positive class's values (n, M)."""

    name: str
    n_rows: int
    seconds: float
    evaluations: int
    model_seconds: float
    values: np.ndarray

    @property
    def rows_per_second(self) -> float:
        return self.n_rows / self.seconds

    @property
    def evaluations_per_row(self) -> float:
        return self.evaluations / self.n_rows

    @property
    def outside_model(self) -> float:
        """Share of the time spent outside the model's `predict_proba`."""
        return 1.0 - self.model_seconds / self.seconds


def measure(name: str, model: TimedModel, explain: Callable[[], np.ndarray], n_rows: int) -> Run:
    model.reset()
    start = time.perf_counter()
    values = explain()
    seconds = time.perf_counter() - start
    return Run(name, n_rows, seconds, model.rows, model.seconds, np.asarray(values, dtype=float))


def relative_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per row: ||phi - ref|| / ||ref|| over the features."""
    return np.linalg.norm(values - reference, axis=1) / np.linalg.norm(reference, axis=1)


def median_error(values: np.ndarray, reference: np.ndarray) -> float:
    return float(np.median(relative_errors(values, reference)))


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.3g}"
        return f"{value:.2e}"
    return str(value)


def publish(text: str, path: Path | None, name: str) -> None:
    """Print a bench's figures and, with a `path`, write them as its section `name` there."""
    print(text)
    if path is not None:
        write_section(path, name, text)
        progress(f"wrote the section '{name}' of {path}")


def write_section(path: Path, name: str, text: str) -> None:
    """Replace (or append) the section between `<!-- name:start -->` and `<!-- name:end -->`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else "# Benchmark results\n\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
