"""The batch job's errors: every one is a `scoring.errors.ScoringError`."""

from __future__ import annotations

from scoring.errors import ScoringError


class BatchError(ScoringError):
    """The job cannot run as asked: a bad option, input or output location, or cluster."""

    status = 400


class RowError(BatchError):
    """A row of the input that the bundle's schema rejects, named by file, row and field."""

    def __init__(self, message: str, *, source: str, row: object, field: str | None):
        self.message = message
        self.source = source
        self.row = row
        self.field = field
        where = f"{source}, row {row}" + (f", feature '{field}'" if field is not None else "")
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        # raised on a worker, re-raised on the client: keyword-only arguments need a rebuild
        return (_row_error, (self.message, self.source, self.row, self.field))


def _row_error(message: str, source: str, row: object, field: str | None) -> RowError:
    return RowError(message, source=source, row=row, field=field)
