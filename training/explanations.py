"""Publishing global explanations beside a bundle in the BentoML model store: the reference
design's run-history `ExplanationClient`, with a bundle in place of a run.

    client = ExplanationClient.from_bundle("breast_cancer:latest")
    client.upload_model_explanation(global_explanation, comment="global explanation: all features")
    client.upload_model_explanation(global_explanation, top_k=2, comment="only top 2 features")
    explanation = client.download_model_explanation(top_k=4)

Each upload is its own immutable BentoML model, named `<bundle name>-explanation`, labelled with
the bundle's tag, holding `explanation.json` (written by `GlobalExplanation.to_json`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scoring.compat.global_explanation import (
    EXPLANATION_FILE,
    EXPLANATION_KIND,
    GlobalExplanation,
    explanation_store_name,
)
from scoring.errors import ValidationError


class ExplanationNotFoundError(ValidationError):
    """No uploaded explanation matches what was asked for."""

    status = 404


class ExplanationClient:
    """Upload, list and download the global explanations of one stored bundle version."""

    def __init__(self, bundle_tag: str):
        name, _, version = str(bundle_tag).partition(":")
        if not version or version == "latest":
            raise ValidationError(
                f"expected a full bundle tag 'name:version', got {bundle_tag!r}; "
                "use from_bundle() to resolve a name",
                field="bundle_tag",
            )
        self.bundle_tag = str(bundle_tag)
        self.bundle_name = name

    @classmethod
    def from_bundle(cls, name_or_tag: str) -> ExplanationClient:
        """The client of a bundle in the model store (a name means its latest version)."""
        import bentoml

        return cls(str(bentoml.models.get(name_or_tag).tag))

    @classmethod
    def from_run(cls, run: Any) -> ExplanationClient:
        """The reference's `ExplanationClient.from_run(run)`, where a run is one trained bundle
        version: `run` is what `training.save_to_store` returned (its `(tag, folder)` pair, or the
        tag), a tag 'name:version' (a bare name means its latest version), a `bentoml.Tag`, or a
        stored `bentoml.Model` (`bentoml.models.get(...)`)."""
        import bentoml
        from bentoml.exceptions import NotFound

        if isinstance(run, tuple) and len(run) == 2 and isinstance(run[1], (str, Path)):
            run = run[0]  # save_to_store's (tag, folder)
        if isinstance(run, bentoml.Model):
            return cls(str(run.tag))
        if not isinstance(run, (str, bentoml.Tag)):
            raise ValidationError(
                "expected a bundle: what training.save_to_store returned, a tag 'name:version' or a "
                f"bentoml Model, got {type(run).__name__} (an Azure ML Run has no counterpart here: "
                "explanations are kept beside the bundle in the BentoML model store)",
                field="run",
            )
        try:
            return cls.from_bundle(str(run))
        except NotFound as e:
            raise ExplanationNotFoundError(f"no bundle {str(run)!r} in the model store", field="run") from e

    @property
    def store_name(self) -> str:
        return explanation_store_name(self.bundle_name)

    def upload_model_explanation(
        self,
        explanation: GlobalExplanation,
        *,
        top_k: int | None = None,
        comment: str | None = None,
    ) -> str:
        """Store `explanation` (only its top k features when `top_k` is given, then without local
        values); returns the stored model's tag."""
        import bentoml

        if not isinstance(explanation, GlobalExplanation):
            raise ValidationError(
                f"expected a GlobalExplanation (from explain_global), got {type(explanation).__name__}",
                field="explanation",
            )
        doc = explanation.to_json(top_k=top_k)
        metadata: dict[str, Any] = {
            "explanation_id": doc["id"],
            "method": doc["method"],
            "model_task": doc["model_task"],
            "is_raw": doc["is_raw"],
            "has_local": doc["local"] is not None,
        }
        if comment is not None:
            metadata["comment"] = str(comment)
        if top_k is not None:
            metadata["top_k"] = int(top_k)
        labels = {"bundle": self.bundle_tag, "kind": EXPLANATION_KIND}
        with bentoml.models.create(self.store_name, labels=labels, metadata=metadata) as model:
            Path(model.path_of(EXPLANATION_FILE)).write_text(json.dumps(doc))
        return str(model.tag)

    def _stored(self) -> list[Any]:
        import bentoml
        from bentoml.exceptions import NotFound

        try:
            models = bentoml.models.list(self.store_name)
        except NotFound:
            return []
        mine = [
            m
            for m in models
            if m.info.labels.get("bundle") == self.bundle_tag
            and m.info.labels.get("kind") == EXPLANATION_KIND
        ]
        return sorted(mine, key=lambda m: m.info.creation_time, reverse=True)

    def list_model_explanations(self, *, comment: str | None = None) -> list[dict[str, Any]]:
        """The uploaded explanations of this bundle, newest first (only those with `comment`, if given)."""
        out = []
        for m in self._stored():
            meta = m.info.metadata
            if comment is not None and meta.get("comment") != comment:
                continue
            out.append(
                {
                    "id": meta.get("explanation_id"),
                    "tag": str(m.tag),
                    "comment": meta.get("comment"),
                    "top_k": meta.get("top_k"),
                    "method": meta.get("method"),
                    "model_task": meta.get("model_task"),
                    "is_raw": meta.get("is_raw"),
                    "has_local": meta.get("has_local"),
                    "upload_time": m.info.creation_time.isoformat(),
                }
            )
        return out

    def download_model_explanation(
        self,
        explanation_id: str | None = None,
        *,
        top_k: int | None = None,
        comment: str | None = None,
    ) -> GlobalExplanation:
        """The newest upload (matching `explanation_id`, which may also be the stored tag, and
        `comment` when given), trimmed to its top k features when `top_k` is given."""
        for m in self._stored():
            meta = m.info.metadata
            if explanation_id is not None and explanation_id not in (meta.get("explanation_id"), str(m.tag)):
                continue
            if comment is not None and meta.get("comment") != comment:
                continue
            doc = json.loads(Path(m.path_of(EXPLANATION_FILE)).read_text())
            return GlobalExplanation.from_json(doc, top_k=top_k)
        wanted = [
            f"id {explanation_id!r}" if explanation_id else "",
            f"comment {comment!r}" if comment else "",
        ]
        detail = " with " + " and ".join(w for w in wanted if w) if any(wanted) else ""
        raise ExplanationNotFoundError(f"no explanation{detail} uploaded for bundle {self.bundle_tag}")
