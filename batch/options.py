"""What a batch job explains and how it answers: the service's options, for a table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from batch.errors import BatchError
from scoring.bundle import Bundle
from scoring.explanation import Level
from scoring.outputs import Outputs


class OnError(StrEnum):
    """What a row the schema rejects does to the job: stop it, or be written with its message."""

    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class ExplainOptions:
    """Options of one job, as the service takes them per request (`level`, `target`, `top_k`),
    plus the table's own: the id column, the input columns kept in the output, bad rows.

    `target` is "predicted" (each row's predicted class; every output of a regressor), "all",
    or one class by name or raw label.
    """

    level: Level = Level.RAW
    target: str | int = "predicted"
    top_k: int | None = None
    keep: tuple[str, ...] = ()
    id_column: str | None = None
    on_error: OnError = OnError.FAIL

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "level", Level(self.level))
        except ValueError:
            raise BatchError(
                f"level: expected one of {[str(v) for v in Level]}, got {self.level!r}"
            ) from None
        try:
            object.__setattr__(self, "on_error", OnError(self.on_error))
        except ValueError:
            raise BatchError(
                f"on_error: expected one of {[str(v) for v in OnError]}, got {self.on_error!r}"
            ) from None
        if self.top_k is not None and (
            isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0
        ):
            raise BatchError(f"top_k: expected None or an integer >= 0, got {self.top_k!r}")
        object.__setattr__(self, "keep", tuple(self.keep))
        if self.id_column is not None and self.id_column in self.keep:
            raise BatchError(f"keep: the id column {self.id_column!r} is written anyway; do not keep it")

    def to_json(self) -> dict[str, object]:
        return {
            "level": str(self.level),
            "target": self.target,
            "top_k": self.top_k,
            "keep": list(self.keep),
            "id_column": self.id_column,
            "on_error": str(self.on_error),
        }


@dataclass(frozen=True)
class Plan:
    """The options checked against one bundle: the explained outputs and the output's names."""

    options: ExplainOptions
    outputs: Outputs
    output_index: int | None  # the one class explained for every row, when `target` names one
    all_outputs: bool  # every output explained for every row (one set of columns per output)
    feature_names: tuple[str, ...]

    @classmethod
    def of(cls, bundle: Bundle, options: ExplainOptions) -> Plan:
        if options.level not in bundle.levels:
            raise BatchError(
                f"level: expected one of {[str(v) for v in bundle.levels]}, got '{options.level}' "
                "(this bundle explains the whole model over raw columns)"
            )
        outputs = Outputs.of(bundle)
        index: int | None = None
        everything = False
        target = options.target
        if target == "all" or (target == "predicted" and not outputs.classify):
            everything = len(outputs.names) > 1
            index = 0 if not everything else None
        elif target != "predicted":
            index = outputs.find(target)
            if index is None:
                raise BatchError(
                    f"target: expected one of {['predicted', 'all', *outputs.names]}, got {target!r}"
                )
        names = bundle.explainer.feature_names_in_
        if bundle.feature_map is not None and options.level is Level.RAW:
            names = bundle.feature_map.raw_names
        return cls(options, outputs, index, everything, tuple(str(n) for n in names))
