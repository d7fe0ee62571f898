"""One exception family for the engine. The engine says what went wrong; which HTTP status that is
is the service's business (`service.errors`), not the engine's."""

from __future__ import annotations


class ScoringError(Exception):
    """Base of every error raised by `scoring`."""


class NotFittedError(ScoringError):
    """An explainer was used before `fit`."""


class UnsupportedModelError(ScoringError):
    """The chosen method cannot explain this model."""


class ParameterError(ScoringError, ValueError):
    """An option or argument a method does not take, or a value outside what it accepts."""


class ShapeError(ScoringError, ValueError):
    """Arrays that belong together (an explanation's, a feature map's) disagree in shape or sum."""


class AdditivityError(ScoringError):
    """An explanation's base value plus its attributions misses the explained output."""


class ValidationError(ScoringError):
    """A caller's input is wrong; names the row and field when it knows them."""

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


class BundleError(ScoringError):
    """A bundle is missing, tampered with, or was written by incompatible library versions."""
