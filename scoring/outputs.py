"""What the explained outputs are called: a classifier's classes, or a regressor's prediction(s).

One home for the service's and the batch job's answers (`service.outputs` re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from scoring.bundle import Bundle
from scoring.errors import BundleError
from scoring.schema import plain_value


@dataclass(frozen=True)
class Outputs:
    """The explainer's outputs, in order, and how the model's predictions map onto them.

    A classifier's outputs are its classes, named as in the bundle (display names such as
    "malignant" when training gave them, else the labels as text), in the order of the model's
    `classes_` (its raw labels). A regressor's outputs have no class.
    """

    names: tuple[str, ...]
    labels: tuple[Any, ...] | None  # the model's raw class labels (classes_), or None for a regressor

    @classmethod
    def of(cls, bundle: Bundle) -> Outputs:
        names = tuple(str(n) for n in bundle.explainer.output_names_)
        if bundle.schema.task != "classification":
            return cls(names, None)
        raw = getattr(bundle.model, "classes_", None)
        labels = tuple(plain_value(c) for c in raw) if raw is not None else names
        if len(labels) != len(names):
            raise BundleError(f"the model has {len(labels)} classes but the explainer {len(names)} outputs")
        return cls(names, labels)

    @property
    def classify(self) -> bool:
        return self.labels is not None

    def names_by_label(self) -> dict[Any, str]:
        """Each raw class label (a JSON value) to the output name answers use; empty for a regressor."""
        return {} if self.labels is None else dict(zip(self.labels, self.names, strict=True))

    def index(self, predicted: np.ndarray) -> np.ndarray:
        """Each prediction's output index (-1 for a label the model never had); 0 for a regressor."""
        if self.labels is None:
            return np.zeros(len(predicted), dtype=int)
        positions = self._positions
        plain = np.asarray(predicted).tolist()
        return np.array([positions.get(p, -1) for p in plain], dtype=int)

    @cached_property  # built once, not per request
    def _positions(self) -> dict[Any, int]:
        return {label: k for k, label in reversed(list(enumerate(self.labels or ())))}

    def classes(self, predicted: np.ndarray) -> list[Any]:
        """Predictions as JSON values: class names for a classifier, numbers for a regressor."""
        if self.labels is None:
            return np.asarray(predicted).tolist()
        idx = self.index(predicted)
        plain = np.asarray(predicted).tolist()
        return [self.names[k] if k >= 0 else plain_value(p) for k, p in zip(idx.tolist(), plain, strict=True)]

    def find(self, value: Any) -> int | None:
        """The output a caller means by `value`: a class name, a raw label, or either as text."""
        for k, name in enumerate(self.names):
            if isinstance(value, str) and value == name:
                return k
        for k, label in enumerate(self.labels or ()):
            if type(value) is type(label) and value == label:
                return k
        text = str(value)
        matches = [k for k, label in enumerate(self.labels or ()) if str(label) == text]
        return matches[0] if len(matches) == 1 else None
