"""`save_explanation` / `load_explanation` in the reference design's on-disk layout, so files
either side wrote are read by the other.

The layout (re-derived from the files the reference writes): a directory holding one
`<member>.json` per member that has a value, each `{"metadata": kind, "data": value}` with kind
one of `list`, `ndarray`, `DataFrame`, `DatasetWrapper` (a data set kept as a list of rows) or
`sparse` (`[data, indices, indptr, shape]` of a CSR matrix), and `explanation_metadata.json`
with the explanation's id, task, method, flags, counts and `serialization_version` 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.compat.constants import ExplainParams, ExplainType
from scoring.compat.explanation import ExplanationBase, LocalExplanation
from scoring.compat.global_explanation import GlobalExplanation
from scoring.errors import ScoringError, ValidationError

METADATA_FILE = "explanation_metadata.json"
SERIALIZATION_VERSION = 1
# older files name methods as the reference's explainer types did
LEGACY_METHODS = {"shap_kernel": "shap.kernel", "shap_tree": "shap.tree", "shap_linear": "shap.linear"}

SHARED = (
    ExplainParams.FEATURES,
    ExplainParams.EXPECTED_VALUES,
    ExplainParams.CLASSES,
    ExplainParams.INIT_DATA,
    ExplainParams.EVAL_DATA,
    ExplainParams.EVAL_Y_PRED,
    ExplainParams.EVAL_Y_PRED_PROBA,
)
GLOBAL = (
    ExplainParams.GLOBAL_IMPORTANCE_VALUES,
    ExplainParams.GLOBAL_IMPORTANCE_RANK,
    ExplainParams.PER_CLASS_VALUES,
    ExplainParams.PER_CLASS_RANK,
)
DATASETS = {ExplainParams.INIT_DATA, ExplainParams.EVAL_DATA}


class ExplanationExistsError(ScoringError, FileExistsError):
    """`save_explanation` was asked to write into an existing directory without `exist_ok=True`."""


def _member(explanation: ExplanationBase, name: str) -> Any:
    try:
        return getattr(explanation, name)
    except AttributeError:
        return None


def _encode(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, pd.DataFrame):
        return {"metadata": "DataFrame", "data": value.to_numpy().tolist()}
    if isinstance(value, np.ndarray):
        kind = "DatasetWrapper" if name in DATASETS else "ndarray"
        return {"metadata": kind, "data": value.tolist()}
    if hasattr(value, "tocsr"):
        csr = value.tocsr()
        return {
            "metadata": "sparse",
            "data": [csr.data.tolist(), csr.indices.tolist(), csr.indptr.tolist(), list(csr.shape)],
        }
    return {"metadata": "list", "data": value.tolist() if hasattr(value, "tolist") else value}


def _decode(doc: dict[str, Any]) -> Any:
    kind, data = doc["metadata"], doc["data"]
    if kind in ("list", "ndarray", "DataFrame", "DatasetWrapper"):
        return data
    if kind in ("sparse", "DatasetWrapperSparse"):
        from scipy.sparse import csr_matrix

        values, indices, indptr, shape = data
        return csr_matrix((values, indices, indptr), shape=tuple(shape)).toarray().tolist()
    raise ValidationError(f"unrecognized data type {kind!r} in a saved explanation")


def save_explanation(explanation: ExplanationBase, path: str | Path, exist_ok: bool = False) -> None:
    """Write `explanation` into the directory `path` (made if needed; an existing one only with exist_ok)."""
    if not isinstance(explanation, ExplanationBase):
        raise ValidationError(
            f"expected an explanation, got {type(explanation).__name__}", field="explanation"
        )
    target = Path(path)
    if target.exists() and not exist_ok:
        raise ExplanationExistsError(f"{target} already exists; pass a new directory or exist_ok=True")
    target.mkdir(parents=True, exist_ok=True)
    is_global = isinstance(explanation, GlobalExplanation)
    is_local = isinstance(explanation, LocalExplanation) or (
        isinstance(explanation, GlobalExplanation) and explanation.local is not None
    )
    names = [
        *SHARED,
        *(GLOBAL if is_global else ()),
        *((ExplainParams.LOCAL_IMPORTANCE_VALUES,) if is_local else ()),
    ]
    for name in names:
        value = _member(explanation, name)
        if value is not None:
            (target / f"{name}.json").write_text(
                json.dumps(_encode(name, np.asarray(value) if name in DATASETS else value))
            )
    classification = hasattr(explanation, "classes")
    metadata = {
        ExplainParams.EXPLANATION_ID: explanation.id,
        ExplainType.MODEL: ExplainType.CLASSIFICATION if classification else ExplainType.REGRESSION,
        ExplainType.DATA: ExplainType.TABULAR,
        ExplainType.MODEL_TASK: explanation.model_task,
        ExplainType.METHOD: explanation.method,
        ExplainType.MODEL_CLASS: explanation.model_type,
        ExplainType.IS_RAW: explanation.is_raw,
        ExplainType.IS_ENG: explanation.is_engineered,
        ExplainType.GLOBAL: is_global,
        ExplainType.LOCAL: is_local,
        ExplainParams.NUM_CLASSES: explanation.num_classes if classification else 1,
        ExplainParams.NUM_EXAMPLES: _member(explanation, "num_examples") if is_local else 0,
        ExplainParams.NUM_FEATURES: explanation.num_features,
        ExplainParams.IS_LOCAL_SPARSE: False,
        "serialization_version": SERIALIZATION_VERSION,
    }
    (target / METADATA_FILE).write_text(json.dumps(metadata))


def load_explanation(path: str | Path) -> LocalExplanation | GlobalExplanation:
    """Read an explanation written by `save_explanation` (ours or the reference's)."""
    source = Path(path)
    meta_file = source / METADATA_FILE
    if not meta_file.is_file():
        raise ValidationError(f"{source} holds no saved explanation ({METADATA_FILE} is missing)")
    metadata = json.loads(meta_file.read_text())
    values: dict[str, Any] = {}
    for name in [*SHARED, *GLOBAL, ExplainParams.LOCAL_IMPORTANCE_VALUES]:
        file = source / f"{name}.json"
        if file.is_file():
            values[name] = _decode(json.loads(file.read_text()))
    classification = metadata[ExplainType.MODEL] == ExplainType.CLASSIFICATION
    method = metadata.get(ExplainType.METHOD)
    common: dict[str, Any] = {
        "method": LEGACY_METHODS.get(method, method),
        "model_task": metadata.get(ExplainType.MODEL_TASK)
        or ("classification" if classification else "regression"),
        "features": values.get(ExplainParams.FEATURES),
        "num_features": metadata.get(ExplainParams.NUM_FEATURES),
        "is_raw": metadata.get(ExplainType.IS_RAW, False),
        "is_engineered": metadata.get(ExplainType.IS_ENG, False),
        "classes": values.get(ExplainParams.CLASSES),
        "num_classes": metadata.get(ExplainParams.NUM_CLASSES) if classification else None,
        "expected_values": values.get(ExplainParams.EXPECTED_VALUES),
        "model_type": metadata.get(ExplainType.MODEL_CLASS),
        "explanation_id": metadata.get(ExplainParams.EXPLANATION_ID),
        "init_data": _array(values.get(ExplainParams.INIT_DATA)),
        "eval_data": _array(values.get(ExplainParams.EVAL_DATA)),
        "eval_y_predicted": _array(values.get(ExplainParams.EVAL_Y_PRED)),
        "eval_y_predicted_proba": _array(values.get(ExplainParams.EVAL_Y_PRED_PROBA)),
    }
    if common["model_task"] not in ("classification", "regression"):
        common["model_task"] = "classification" if classification else "regression"
    local = None
    if metadata.get(ExplainType.LOCAL):
        local = LocalExplanation(
            np.asarray(values[ExplainParams.LOCAL_IMPORTANCE_VALUES], dtype=float), **common
        )
        if not metadata.get(ExplainType.GLOBAL):
            return local
    return GlobalExplanation(
        values[ExplainParams.GLOBAL_IMPORTANCE_VALUES],
        global_importance_rank=values.get(ExplainParams.GLOBAL_IMPORTANCE_RANK),
        per_class_values=values.get(ExplainParams.PER_CLASS_VALUES),
        per_class_rank=values.get(ExplainParams.PER_CLASS_RANK),
        local_explanation=local,
        **common,
    )


def _array(value: Any) -> Any:
    return None if value is None else np.asarray(value)
