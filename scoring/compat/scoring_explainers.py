"""The reference design's scoring explainers (KernelScoringExplainer, TreeScoringExplainer,
LinearScoringExplainer, save / load) on our compact explainers and our bundle format.

A scoring explainer is a `Bundle`: the model that takes raw rows (with `transformations=`, a
pipeline of the preprocessor and the estimator), a compact explainer of it, the raw feature
schema and the raw <- engineered feature map. `save` writes that bundle (JSON + arrays, the model
through skops where it can, every file's digest in a manifest) instead of a pickle of the
training-time explainer; `load` verifies and reads it back, and the service can serve it as is.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.pipeline import Pipeline

from scoring.bundle import MANIFEST, Bundle, load_bundle, save_bundle
from scoring.compat.base import LocalGlobalExplainer
from scoring.compat.constants import ModelTask
from scoring.compat.inputs import rows_of
from scoring.compat.mimic import MimicExplainer
from scoring.errors import ScoringError, ValidationError
from scoring.explainers import (
    AmortizedExplainer,
    ExactExplainer,
    KernelExplainer,
    LinearExplainer,
    ScoringExplainer,
    TreeExplainer,
)
from scoring.explanation import Explanation, Level, Method
from scoring.report import Report
from scoring.schema import Schema

SCORING_DIR = "scoring_explainer"
# where the reference's code looks for a pickled scoring explainer; `save` leaves a small file
# there whose unpickling (pickle.load, joblib.load) raises PickleNotSupportedError
PICKLE_NAME = "scoring_explainer.pkl"
MIGRATION_HINT = (
    "scoring explainers are saved as verified bundle directories (JSON + arrays + the model through "
    "skops), never as pickles: read one with scoring.compat.load(directory), or serve it with "
    "training.save_to_store(name, explainer.to_bundle()); see MIGRATION.md"
)


class PickleNotSupportedError(ScoringError):
    """Old code loaded a pickled scoring explainer (`load('x.pkl')`, `joblib.load(...)`)."""


def refuse_pickle(directory: str) -> None:
    """Called by unpickling the file `save` leaves at PICKLE_NAME: always raises."""
    raise PickleNotSupportedError(f"{MIGRATION_HINT}; the explainer saved here is the bundle in {directory}")


class _Tombstone:
    def __init__(self, directory: str):
        self.directory = directory

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (refuse_pickle, (self.directory,))


class DirectoryExistsError(ScoringError, FileExistsError):
    """`save` was asked to write into an existing directory without `exist_ok=True`."""


class BundleScoringExplainer:
    """A scoring-time explainer: `explain(X, get_raw=None)` gives each row's local importances.

    Built from a training-time `TabularExplainer` or `MimicExplainer` (its model, transformations
    and initialization examples); the subclasses choose the method.
    """

    method: ClassVar[Method | None] = None

    def __init__(self, bundle: Bundle):
        self.bundle_ = bundle

    @classmethod
    def _build(
        cls,
        original: Any,
        explainer: ScoringExplainer,
        initialization_examples: Any = None,
        *,
        fitted: bool = False,
    ) -> Bundle:
        inputs = original.inputs_
        examples = (
            original.initialization_examples if initialization_examples is None else initialization_examples
        )
        names = None if original.classes is None else [str(c) for c in original.classes]
        if not fitted:
            explainer.fit(
                original.model_,
                inputs.to_model(rows_of(examples)[0]),
                feature_names=inputs.model_feature_names,
                class_names=names,
            )
        model = original.model_
        if inputs.transformed:
            model = Pipeline([("preprocessor", inputs.preprocessor), ("model", original.model)])
        frame = inputs.raw_frame(rows_of(examples)[0])
        classifier = original.model_task_ is ModelTask.CLASSIFICATION
        schema = Schema.from_frame(
            frame,
            task="classification" if classifier else "regression",
            classes=list(original.model_.classes_) if classifier else (),
        )
        explains = "the model over its input columns"
        if inputs.transformed:
            explains = "the final estimator over engineered columns, folded to raw columns by the feature map"
        report: dict[str, Any] = {
            "task": schema.task,
            "classes": [str(c) for c in explainer.output_names_] if classifier else [],
            "explainer": {
                "method": str(explainer.method),
                "params": explainer.get_params(),
                "space": str(explainer.space_),
                "explains": explains,
                "reason": f"built by scoring.compat.{cls.__name__} from a {type(original).__name__}",
            },
        }
        if isinstance(original, MimicExplainer):
            report["training_explainer"] = {"surrogate_fidelity": original.fidelity_report_}
        return Bundle(
            model=model,
            explainer=explainer,
            schema=schema,
            report=Report.from_json(report),
            feature_map=inputs.feature_map,
        )

    @staticmethod
    def _check(original: Any) -> None:
        if not isinstance(original, LocalGlobalExplainer):
            raise ValidationError(
                "a scoring explainer is built from a TabularExplainer or MimicExplainer, "
                f"got {type(original).__name__}",
                field="original_explainer",
            )

    # -- explaining ------------------------------------------------------------------------------
    @property
    def features(self) -> list[str]:
        """The raw feature names the explainer takes."""
        return list(self.bundle_.schema.names)

    @property
    def _classification(self) -> bool:
        return self.bundle_.schema.task == "classification"

    def explanation(self, evaluation_examples: Any, *, level: Level | str | None = None) -> Explanation:
        """Our explanation object (values, base values, outputs, method, space, level) of the rows."""
        bundle = self.bundle_
        if level is None:
            level = Level.RAW if bundle.feature_map is not None else Level.ENGINEERED
        rows = evaluation_examples
        if not hasattr(rows, "columns"):
            rows = np.asarray(rows, dtype=object)
            rows = _frame(rows[None, :] if rows.ndim == 1 else rows, self.features)
        return bundle.explain(rows, level=Level(level))

    def explain(self, evaluation_examples: Any, get_raw: bool | None = None) -> list[Any]:
        """Local importances as nested lists (JSON-ready): (n, M) for a regressor, a list per class
        of (n, M) for a classifier. `get_raw` None gives raw features when transformations were given."""
        level = None if get_raw is None else (Level.RAW if get_raw else Level.ENGINEERED)
        values = self.explanation(evaluation_examples, level=level).values
        if self._classification or values.shape[2] > 1:
            return np.moveaxis(values, 2, 0).tolist()
        return values[:, :, 0].tolist()

    def predict(self, evaluation_examples: Any) -> list[Any]:
        """`explain` with default options, so the explainer can stand where a model would."""
        return self.explain(evaluation_examples)

    def to_bundle(self) -> Bundle:
        """The bundle the service serves: model, explainer, schema, feature map."""
        return self.bundle_

    @classmethod
    def _from_bundle(cls, bundle: Bundle) -> Self:
        return cls.__new__(cls)._with(bundle)

    def _with(self, bundle: Bundle) -> Self:
        self.bundle_ = bundle
        return self


class KernelScoringExplainer(BundleScoringExplainer):
    """KernelSHAP of the original model over a weighted k-means summary of the initialization
    examples (or of `initialization_examples`, when given), with an error estimate per value.

    Built from a TabularExplainer that explains a black box, without new examples, it serves
    that explainer's own fitted kernel (same background, coalitions and seed), so the scoring-time
    values equal the training-time ones."""

    method = Method.KERNEL

    def __init__(
        self,
        original_explainer: Any,
        initialization_examples: Any = None,
        *,
        n_background: int = 20,
        budget: int = 512,
        seed: int = 0,
    ):
        self._check(original_explainer)
        reuse = getattr(original_explainer, "explainer_", None) if initialization_examples is None else None
        if isinstance(reuse, KernelExplainer | ExactExplainer | AmortizedExplainer):
            super().__init__(self._build(original_explainer, reuse, fitted=True))
            return
        explainer = KernelExplainer(n_background=n_background, budget=budget, seed=seed)
        super().__init__(self._build(original_explainer, explainer, initialization_examples))


class TreeScoringExplainer(BundleScoringExplainer):
    """TreeSHAP of the original model, which must be a tree ensemble (not a mimic's surrogate)."""

    method = Method.TREE

    def __init__(self, original_explainer: Any):
        self._check(original_explainer)
        _no_surrogate(original_explainer, "TreeScoringExplainer")
        super().__init__(self._build(original_explainer, TreeExplainer()))


class LinearScoringExplainer(BundleScoringExplainer):
    """Closed-form SHAP of the original model, which must be linear."""

    method = Method.LINEAR

    def __init__(self, original_explainer: Any):
        self._check(original_explainer)
        _no_surrogate(original_explainer, "LinearScoringExplainer")
        super().__init__(self._build(original_explainer, LinearExplainer()))


def _no_surrogate(original: Any, name: str) -> None:
    if isinstance(original, MimicExplainer):
        raise ValidationError(
            f"{name} explains the original model, not a MimicExplainer's surrogate; "
            "use KernelScoringExplainer(mimic_explainer) for any model",
            field="original_explainer",
        )


def _frame(rows: np.ndarray, names: list[str]) -> Any:
    import pandas as pd

    if rows.shape[1] != len(names):
        raise ValidationError(f"expected rows of {len(names)} features {names}, got {rows.shape[1]} columns")
    frame = pd.DataFrame(rows, columns=names)
    return frame.infer_objects()


CLASSES: dict[Method, type[BundleScoringExplainer]] = {
    Method.KERNEL: KernelScoringExplainer,
    Method.TREE: TreeScoringExplainer,
    Method.LINEAR: LinearScoringExplainer,
}


def save(
    scoring_explainer: BundleScoringExplainer, directory: str | Path = ".", exist_ok: bool = False
) -> str:
    """Write the scoring explainer as a bundle into `directory`/scoring_explainer; returns that path.

    As in the reference design, an existing `directory` is an error unless `exist_ok=True`; a
    bundle saved there before is replaced, any other file is left alone.
    """
    path = Path(directory)
    if path.exists() and not exist_ok:
        raise DirectoryExistsError(f"{path} already exists; pass exist_ok=True to save into it")
    target = path / SCORING_DIR
    if target.exists():
        if not (target / MANIFEST).is_file():
            raise DirectoryExistsError(
                f"{target} exists and is not a saved scoring explainer; not replacing it"
            )
        shutil.rmtree(target)
    save_bundle(target, scoring_explainer.to_bundle())
    import pickle

    (path / PICKLE_NAME).write_bytes(pickle.dumps(_Tombstone(str(target))))
    return str(target)


def load(directory: str | Path) -> BundleScoringExplainer:
    """Verify and read a scoring explainer written by `save` (the directory, or the bundle in it)."""
    path = Path(directory)
    if path.suffix in (".pkl", ".pickle", ".joblib") or path.name == PICKLE_NAME:
        raise PickleNotSupportedError(f"{path} names a pickle: {MIGRATION_HINT}")
    if (path / SCORING_DIR / MANIFEST).is_file():
        path = path / SCORING_DIR
    bundle = load_bundle(path)
    cls = CLASSES.get(bundle.explainer.method, BundleScoringExplainer)
    return cls._from_bundle(bundle)
