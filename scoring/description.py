"""What a loaded bundle is: its task, outputs, features, explainer and provenance, as the service's
metadata and the dashboard show it. One home for these facts, read from the bundle's parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scoring.bundle import Bundle, bundle_report
from scoring.explanation import Level
from scoring.outputs import Outputs
from scoring.report import Report
from scoring.schema import Schema


@dataclass(frozen=True)
class Description:
    """A bundle described.

    `classes` are a classifier's output names in the model's order (the names answers use) and
    `class_labels` the model's raw labels; both are empty for a regressor."""

    task: str
    target: str
    classes: tuple[str, ...]
    class_labels: tuple[Any, ...]
    model_class: str | None
    schema: Schema
    levels: tuple[Level, ...]
    method: str
    space: str
    outputs: tuple[str, ...]
    params: Mapping[str, Any]
    report: Report
    format_version: int | None
    trained_with: Mapping[str, str]  # python and the library versions the bundle was saved with

    @property
    def explains(self) -> str:
        return self.report.explainer.explains


def describe(bundle: Bundle) -> Description:
    outputs = Outputs.of(bundle)
    explainer = bundle.explainer
    manifest = bundle.manifest
    trained_with = {"python": str(manifest["python"])} if "python" in manifest else {}
    trained_with.update({str(k): str(v) for k, v in manifest.get("libraries", {}).items()})
    return Description(
        task=bundle.schema.task,
        target=bundle.schema.target,
        classes=outputs.names if outputs.classify else (),
        class_labels=outputs.labels or (),
        model_class=manifest.get("model_class"),
        schema=bundle.schema,
        levels=bundle.levels,
        method=str(explainer.method),
        space=str(explainer.space_),
        outputs=tuple(str(n) for n in explainer.output_names_),
        params=explainer.get_params(),
        report=bundle_report(bundle),
        format_version=manifest.get("format_version"),
        trained_with=trained_with,
    )
