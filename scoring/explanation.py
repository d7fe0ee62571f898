"""The explanation value object: parallel arrays plus what they explain, with additivity checked."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from scoring.errors import AdditivityError, ShapeError, ValidationError

OTHER = "(other)"


class Space(StrEnum):
    """The scale of the explained output."""

    PROBABILITY = "probability"
    LOG_ODDS = "log_odds"
    RAW = "raw"


class Level(StrEnum):
    """Which features the attributions are over: the caller's columns or the model's inputs."""

    RAW = "raw"
    ENGINEERED = "engineered"


class Method(StrEnum):
    LINEAR = "linear"
    TREE = "tree"
    EXACT = "exact"
    KERNEL = "kernel"
    SURROGATE = "surrogate"
    AMORTIZED = "amortized"


@dataclass(frozen=True, eq=False)
class Explanation:
    """Local attributions for n rows, M features and K explained outputs.

    `values[i, j, k]` is feature j's share of output k for row i (shap's axis order).
    `base_values[k] + values[i, :, k].sum() + residual[i, k] == outputs[i, k]` always;
    the residual is zero (to rounding) for every method that enforces efficiency.
    `stderr`, when present, is a per-row, per-feature, per-output estimate of the error of the
    values (sampled, or amortized and calibrated at fit time); `error` is its L2 over features.
    `outside[i, j]` is True when row i's feature j lies outside what training saw (a number beyond
    the range, an unseen category). `evaluations[i]` counts the model evaluations spent refining
    row i after its first answer (0: not refined); None when no refinement was possible.
    """

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    space: Space
    method: Method
    level: Level = Level.ENGINEERED
    stderr: np.ndarray | None = None
    data: np.ndarray | None = field(default=None, repr=False)
    outside: np.ndarray | None = None
    evaluations: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, m, k = np.shape(self.values)
        expected = {
            "base_values": (k,),
            "outputs": (n, k),
        }
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ShapeError(f"{name} has shape {np.shape(getattr(self, name))}, expected {shape}")
        if len(self.feature_names) != m:
            raise ShapeError(f"{len(self.feature_names)} feature names for {m} features")
        if len(self.output_names) != k:
            raise ShapeError(f"{len(self.output_names)} output names for {k} outputs")
        if self.stderr is not None and np.shape(self.stderr) != (n, m, k):
            raise ShapeError(f"stderr has shape {np.shape(self.stderr)}, expected {(n, m, k)}")
        if self.outside is not None and np.shape(self.outside) != (n, m):
            raise ShapeError(f"outside has shape {np.shape(self.outside)}, expected {(n, m)}")
        if self.evaluations is not None and np.shape(self.evaluations) != (n,):
            raise ShapeError(f"evaluations has shape {np.shape(self.evaluations)}, expected {(n,)}")

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.values.shape[2])

    @property
    def residual(self) -> np.ndarray:
        """(n, K): outputs - base_values - sum of values."""
        return self.outputs - self.base_values[None, :] - self.values.sum(axis=1)

    @property
    def error(self) -> np.ndarray | None:
        """(n, K): standard error of the attribution vector (L2 over features), if sampled."""
        if self.stderr is None:
            return None
        return np.sqrt((self.stderr**2).sum(axis=1))

    def outside_names(self, row: int) -> list[str]:
        """The features of one row outside what training saw (empty when none or not checked)."""
        if self.outside is None:
            return []
        return [self.feature_names[j] for j in np.flatnonzero(self.outside[row])]

    def outside_lists(self) -> list[list[str]]:
        """`outside_names` of every row, found in one pass."""
        lists: list[list[str]] = [[] for _ in range(self.n_rows)]
        if self.outside is not None:
            names = self.feature_names
            rows, columns = np.nonzero(self.outside)
            for i, j in zip(rows.tolist(), columns.tolist(), strict=True):
                lists[i].append(names[j])
        return lists

    def output_index(self, output: int | str) -> int:
        if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
            if not 0 <= output < self.n_outputs:
                raise ValidationError(f"output index {output} out of range 0..{self.n_outputs - 1}")
            return int(output)
        names = [str(o) for o in self.output_names]
        if str(output) not in names:
            raise ValidationError(f"unknown output {output!r}; expected one of {names}", field="target")
        return names.index(str(output))

    def ranked(self, row: int, output: int | str = 0) -> list[tuple[str, float]]:
        """(feature, value) pairs of one row and output, largest |value| first (stable)."""
        return self.attributions([(row, self.output_index(output))])[0]

    def top_k(self, row: int, output: int | str = 0, k: int | None = None) -> list[tuple[str, float]]:
        """The k largest attributions plus an "(other)" entry holding the rest, so sums are kept."""
        return self.attributions([(row, self.output_index(output))], k)[0]

    def attributions(
        self, pairs: Sequence[tuple[int, int]], k: int | None = None
    ) -> list[list[tuple[str, float]]]:
        """For each (row, output index) pair, its (feature, value) pairs, largest |value| first
        (stable: ties keep feature order). With `k`, the k largest and, when any are left out, an
        "(other)" entry holding their sum, so base + sum of the entries still equals the output."""
        if k is not None and k < 0:
            raise ValidationError(f"top_k must be >= 0, got {k}", field="top_k")
        if not pairs:
            return []
        rows, outputs = np.asarray(pairs, dtype=np.intp).T
        chosen = self.values[rows, :, outputs]  # (pairs, M)
        order = np.argsort(-np.abs(chosen), axis=1, kind="stable")
        ranked = np.take_along_axis(chosen, order, axis=1)
        m = self.n_features
        keep = m if k is None else min(k, m)
        names = np.asarray(self.feature_names, dtype=object)
        out = []
        for p in range(len(order)):
            items = list(zip(names[order[p, :keep]].tolist(), ranked[p, :keep].tolist(), strict=True))
            if keep < m:
                items.append((OTHER, float(ranked[p, keep:].sum())))
            out.append(items)
        return out

    def at_level(self, level: Level) -> Explanation:
        """The same explanation, stated at `level` (its arrays, and so their checks, unchanged)."""
        if level is self.level:
            return self
        stated = copy.copy(self)
        object.__setattr__(stated, "level", Level(level))
        return stated

    def select(self, rows: Any) -> Explanation:
        """A new explanation holding only the given rows (an index, slice or mask)."""
        idx = np.arange(self.n_rows)[rows]
        idx = np.atleast_1d(idx)
        return replace(
            self,
            values=self.values[idx],
            outputs=self.outputs[idx],
            stderr=None if self.stderr is None else self.stderr[idx],
            data=None if self.data is None else self.data[idx],
            outside=None if self.outside is None else self.outside[idx],
            evaluations=None if self.evaluations is None else self.evaluations[idx],
        )

    def fold(
        self,
        matrix: np.ndarray,
        raw_names: tuple[str, ...],
        raw_data: Any = None,
        raw_outside: np.ndarray | None = None,
    ) -> Explanation:
        """Attributions over raw features: `matrix[j, r]` is engineered column j's share owned by raw r.

        Rows of `matrix` sum to 1, so every engineered attribution is kept and additivity holds.
        A raw feature is outside what training saw when `raw_outside` says so or when an
        engineered column it owns is.
        """
        matrix = np.asarray(matrix, dtype=float)
        if matrix.shape != (self.n_features, len(raw_names)):
            raise ShapeError(
                f"feature map has shape {matrix.shape}, expected {(self.n_features, len(raw_names))}"
            )
        if not np.allclose(matrix.sum(axis=1), 1.0):
            raise ShapeError("every engineered feature must be fully owned by raw features")
        values = np.einsum("nmk,mr->nrk", self.values, matrix)
        stderr = None
        if self.stderr is not None:
            # Independent errors add in quadrature; an upper bound when they are correlated.
            stderr = np.sqrt(np.einsum("nmk,mr->nrk", self.stderr**2, matrix))
        outside = None
        if self.outside is not None or raw_outside is not None:
            outside = np.zeros((self.n_rows, len(raw_names)), dtype=bool)
            if self.outside is not None:
                outside |= (self.outside.astype(float) @ (matrix > 0)) > 0
            if raw_outside is not None:
                outside |= np.asarray(raw_outside, dtype=bool)
        return replace(
            self,
            values=values,
            stderr=stderr,
            feature_names=tuple(raw_names),
            level=Level.RAW,
            data=None if raw_data is None else np.asarray(raw_data, dtype=object),
            outside=outside,
        )

    def check_additivity(self, atol: float = 1e-6) -> None:
        """Raise if base + sum(values) differs from the explained output by more than `atol`."""
        worst = float(np.max(np.abs(self.residual))) if self.values.size else 0.0
        if worst > atol:
            raise AdditivityError(f"additivity violated: max |residual| = {worst:.3g} > {atol}")

    def to_shap(self, output: int | str = 0) -> Any:
        """A `shap.Explanation` of one output, for shap's plots."""
        import shap

        k = self.output_index(output)
        data = None
        if self.data is not None:
            data = self.data
        return shap.Explanation(
            values=self.values[:, :, k],
            base_values=np.full(self.n_rows, self.base_values[k]),
            data=data,
            feature_names=list(self.feature_names),
        )
