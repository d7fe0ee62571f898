"""One exception family for the engine; each error knows the HTTP status a service should give it."""

from __future__ import annotations


class ScoringError(Exception):
    """Base of every error raised by `scoring`."""

    status: int = 500


class NotFittedError(ScoringError):
    """An explainer was used before `fit`."""


class UnsupportedModelError(ScoringError):
    """The chosen method cannot explain this model."""


class ValidationError(ScoringError):
    """A caller's input is wrong; names the row and field when it knows them."""

    status = 400

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None):
        self.row = row
        self.field = field
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"feature '{field}'")
        super().__init__(", ".join([*where, message]) if where else message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"error": str(self), "row": self.row, "field": self.field}


class BundleError(ScoringError):
    """A bundle is missing, tampered with, or was written by incompatible library versions."""
