"""Raw <- engineered feature maps: which raw column(s) own each column the model sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FeatureMap:
    """`matrix[j, r]` is the share of engineered column j owned by raw column r; rows sum to 1."""

    raw_names: tuple[str, ...]
    engineered_names: tuple[str, ...]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.engineered_names), len(self.raw_names))
        if self.matrix.shape != shape:
            raise ValueError(f"feature map matrix has shape {self.matrix.shape}, expected {shape}")
        if not np.allclose(self.matrix.sum(axis=1), 1.0):
            raise ValueError("every engineered column must be fully owned by raw columns")

    def to_json(self) -> dict[str, Any]:
        return {"raw_names": list(self.raw_names), "engineered_names": list(self.engineered_names)}

    @classmethod
    def from_json(cls, d: dict[str, Any], matrix: np.ndarray) -> FeatureMap:
        return cls(tuple(d["raw_names"]), tuple(d["engineered_names"]), np.asarray(matrix, dtype=float))
