"""The bundle: one folder holding a model, its explainer state, schema and report, with a
manifest of library versions and sha256 digests that loading verifies."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from scoring.errors import BundleError, ValidationError
from scoring.explainers import ScoringExplainer, load_explainer
from scoring.explanation import Explanation, Level, Space
from scoring.feature_map import FeatureMap
from scoring.pipeline import Pass, model_input
from scoring.refine import Budget, needs_refinement, refine, replaces_checks
from scoring.report import ExplainerReport, Report, as_report
from scoring.schema import Kind, Schema
from scoring.signing import SIGNATURE, check_signature, write_signature
from scoring.support import outside_schema

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCHEMA = "schema.json"
REPORT = "report.json"
EXPLAINER_DIR = "explainer"
FEATURE_MAP = "feature_map.json"
FEATURE_MAP_MATRIX = "feature_map.npy"
MODEL_SKOPS = "model.skops"
MODEL_JOBLIB = "model.joblib"
# Files a model store keeps beside the bundle's own (BentoML's model.yaml): not part of the bundle.
STORE_FILES = frozenset({"model.yaml"})
# Files outside the digests: the store's, and the manifest's signature (it signs the manifest).
UNLISTED = STORE_FILES | {SIGNATURE}
PICKLE_FORMATS = frozenset({"joblib"})
# What a bundle's explainer explains, in the words of its report, with and without a feature map.
EXPLAINS_ENGINEERED = "the final estimator over engineered columns, folded to raw columns by the feature map"
EXPLAINS_RAW = "the model over its input columns"
# The model store's metadata key for the manifest's sha256 (see `recorded_digest`).
MANIFEST_DIGEST_KEY = "manifest_sha256"

# Libraries whose version must match exactly (the model's own code), and those where the
# major.minor release must match (array and explainer code the state relies on).
EXACT_LIBRARIES = ("scikit-learn", "lightgbm", "xgboost")
MINOR_LIBRARIES = ("numpy", "pandas", "shap", "skops")

# Types skops may load beyond its scikit-learn defaults: an explicit allow-list, never "all".
TRUSTED_TYPES = (
    "collections.OrderedDict",
    "collections.defaultdict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "numpy.dtype",
    "builtins.bytearray",
    "scoring.mapper.ColumnMapper",
    "sklearn.tree._tree.Tree",  # the fitted trees of scikit-learn's tree models and ensembles
    # the fitted trees of histogram gradient boosting (arrays of nodes and bin thresholds)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


@dataclass
class Prediction:
    labels: np.ndarray  # (n,) predicted class labels or regression values
    probabilities: np.ndarray | None  # (n, K) for classifiers that give probabilities


@dataclass(frozen=True)
class Answer:
    """One pass over rows: their prediction, and their explanation when one was asked for."""

    prediction: Prediction
    explanation: Explanation | None


@dataclass
class Bundle:
    """A model that takes raw rows, and an explainer of it.

    With a `feature_map`, the explainer explains the model's last step on the engineered
    columns that the steps before it produce, and raw attributions are folded from those.
    Without one, the explainer explains the whole model over the raw columns.
    """

    model: Any
    explainer: ScoringExplainer
    schema: Schema
    report: Report | None = None  # None while a bundle is being built; a loaded bundle has one
    feature_map: FeatureMap | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[Level, ...]:
        """The levels this bundle can explain at."""
        if self.feature_map is not None or not isinstance(self.model, Pipeline):
            return (Level.RAW, Level.ENGINEERED)
        return (Level.RAW,)

    @property
    def classes(self) -> tuple[Any, ...]:
        return self.schema.classes

    def predict(self, X: pd.DataFrame) -> Prediction:
        """Labels (and probabilities) of raw rows."""
        return self.answer(X).prediction

    def explain(
        self,
        X: pd.DataFrame,
        level: Level = Level.RAW,
        *,
        budget: Budget | None = None,
        default_budget: Budget | None = None,
    ) -> Explanation:
        """Explain raw rows at `level` (see `answer`)."""
        explanation = self.answer(X, level, budget=budget, default_budget=default_budget).explanation
        assert explanation is not None
        return explanation

    def answer(
        self,
        X: pd.DataFrame,
        level: Level | None = None,
        *,
        budget: Budget | None = None,
        default_budget: Budget | None = None,
    ) -> Answer:
        """Predict raw rows and, with a `level`, explain them, in one pass: the preprocessor runs
        once, the model's probability function once, and the explainer reuses its outputs.

        Features outside what training saw are flagged. With `budget` every row is refined within
        it (scoring.refine); else with `default_budget` the rows that need it (out of range, or
        stated error far above the fit-time median)."""
        if level is not None:
            level = self._check_level(level)
        plan = self._pass
        inputs = plan.transform(plan.rows(self.model, X))
        probabilities = plan.predict_proba(inputs) if plan.probabilities else None
        if probabilities is not None and plan.argmax_labels:
            labels = plan.estimator.classes_.take(np.argmax(probabilities, axis=1), axis=0)  # its predict
        else:
            # the model's own predict: for most it is not argmax of predict_proba (SVC's Platt
            # probabilities can disagree with its decision function); a binary SVC's
            # probabilities decide it away from the boundary (Pass.labels)
            labels = plan.labels(inputs, probabilities)
        prediction = Prediction(labels, probabilities)
        if level is None:
            return Answer(prediction, None)
        rows = X if self.feature_map is None else dense(inputs)
        # with a feature map the explainer sees the engineered rows dense: same outputs unless sparse
        outputs = self._explained_outputs(
            prediction, sparse=self.feature_map is not None and hasattr(inputs, "toarray")
        )
        return Answer(prediction, self._explain(X, rows, level, outputs, budget, default_budget))

    @cached_property
    def _pass(self) -> Pass:
        return Pass.of(self.model)

    def _check_level(self, level: Level | str) -> Level:
        level = Level(level)
        if level not in self.levels:
            raise ValidationError(
                f"level '{level}' is not available: this bundle explains the whole model over raw "
                "columns because its preprocessing mixes columns",
                field="level",
            )
        return level

    def _explained_outputs(self, prediction: Prediction, *, sparse: bool) -> np.ndarray | None:
        """The explainer's `output_` of the rows, when the prediction already holds it: the
        probabilities in probability space, a regressor's predictions in raw space. None (the
        explainer computes them) when the model saw a sparse matrix and the explainer a dense one."""
        space = self.explainer.space_
        if sparse:
            return None
        if space is Space.PROBABILITY:
            return prediction.probabilities
        if space is Space.RAW and not self._pass.probabilities and not self.schema.classes:
            labels = np.asarray(prediction.labels)
            return labels.astype(float, copy=False).reshape(len(labels), -1)
        return None

    def _explain(
        self,
        X: pd.DataFrame,
        rows: Any,
        level: Level,
        outputs: np.ndarray | None,
        budget: Budget | None,
        default_budget: Budget | None,
    ) -> Explanation:
        raw_outside = None
        if set(self.schema.names) <= set(X.columns.tolist()):
            raw_outside = outside_schema(self.schema, X)
        # a flagged row about to be refined needs no sampled check of its error first
        check = not replaces_checks(self.explainer, budget if budget is not None else default_budget)
        if self.feature_map is None:
            explanation = self.explainer.explain(rows, outside=raw_outside, outputs=outputs, check=check)
            return self._refined(explanation, budget, default_budget).at_level(level)
        engineered = None
        if raw_outside is not None:
            engineered = (raw_outside.astype(float) @ (self.feature_map.matrix > 0).T) > 0
        explanation = self.explainer.explain(rows, outside=engineered, outputs=outputs, check=check)
        explanation = self._refined(explanation, budget, default_budget)
        if level is Level.ENGINEERED:
            return explanation
        return explanation.fold(
            self.feature_map.matrix,
            self.feature_map.raw_names,
            raw_data=X.to_numpy(),
            raw_outside=raw_outside,
        )

    def _refined(
        self, explanation: Explanation, budget: Budget | None, default_budget: Budget | None
    ) -> Explanation:
        if budget is not None:
            return refine(self.explainer, explanation, budget)
        if default_budget is not None:
            rows = needs_refinement(self.explainer, explanation)
            return refine(self.explainer, explanation, default_budget, rows=rows)
        return explanation

    def explainer_rows(self, X: pd.DataFrame) -> Any:
        """Raw rows as the explainer takes them: engineered (dense) with a feature map, else as given."""
        if self.feature_map is None:
            return X
        return dense(self.model[:-1].transform(model_input(self.model, X)))


def dense(Z: Any) -> np.ndarray:
    return np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=float)


# -- saving ----------------------------------------------------------------------------------------
def save_bundle(
    path: str | Path,
    bundle: Bundle,
    *,
    files: dict[str, bytes] | None = None,
    signing_key: bytes | None = None,
) -> dict[str, Any]:
    """Write the bundle into the (empty or new) folder `path`; `files` adds extra files such as a
    plot; with `signing_key`, the manifest is signed (`scoring.signing`). Returns the manifest.

    The model is written with skops (loading it runs no code; types beyond scikit-learn's must be
    in TRUSTED_TYPES, which covers LightGBM and XGBoost). A model skops cannot hold safely (e.g. a
    FunctionTransformer of your own function) falls back to joblib, a pickle: `load_bundle`
    refuses it unless the reader opts in with `allow_pickle=True`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model_format = _save_model(bundle.model, path)
    bundle.explainer.save(path / EXPLAINER_DIR)
    (path / SCHEMA).write_text(json.dumps(bundle.schema.to_json(), indent=1))
    report = bundle_report(bundle)
    (path / REPORT).write_text(json.dumps(report.to_json(), indent=1, allow_nan=False))
    if bundle.feature_map is not None:
        (path / FEATURE_MAP).write_text(json.dumps(bundle.feature_map.to_json(), indent=1))
        np.save(path / FEATURE_MAP_MATRIX, bundle.feature_map.matrix, allow_pickle=False)
    for name, content in (files or {}).items():
        (path / name).write_bytes(content)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_format": model_format,
        "model_class": f"{type(bundle.model).__module__}.{type(bundle.model).__name__}",
        "explainer": str(bundle.explainer.method),
        "python": platform.python_version(),
        "libraries": _library_versions(),
        "model_libraries": sorted(_model_libraries(bundle.model)),
        **{k: v for k, v in bundle.manifest.items() if k not in ("files", "libraries")},
        "files": _digests(path),
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if signing_key is not None:
        write_signature(path, MANIFEST, signing_key)
    bundle.manifest = manifest
    bundle.report = report
    return manifest


def bundle_report(bundle: Bundle) -> Report:
    """The report saved with `bundle`: its own, checked against the schema, or for a bundle built
    without a training run (no report yet), what the bundle itself says and no training figures."""
    if bundle.report is not None:
        return as_report(bundle.report)
    explainer = bundle.explainer
    classify = bundle.schema.task == "classification"
    classes = tuple(str(c) for c in explainer.output_names_) if classify else ()
    return Report(
        task=bundle.schema.task,
        explainer=ExplainerReport(
            method=str(explainer.method),
            explains=EXPLAINS_ENGINEERED if bundle.feature_map is not None else EXPLAINS_RAW,
            params=explainer.get_params(),
            space=str(explainer.space_),
            levels=tuple(str(level) for level in bundle.levels),
        ),
        model=f"{type(bundle.model).__module__}.{type(bundle.model).__name__}",
        classes=classes,
    )


def _save_model(model: Any, path: Path) -> str:
    """skops where it serves (no code runs on load), else joblib."""
    import skops.io as sio

    try:
        sio.dump(model, path / MODEL_SKOPS)
        untrusted = set(sio.get_untrusted_types(file=path / MODEL_SKOPS)) - set(TRUSTED_TYPES)
        if not untrusted:
            return "skops"
        (path / MODEL_SKOPS).unlink()
    except Exception:
        (path / MODEL_SKOPS).unlink(missing_ok=True)
    import joblib

    joblib.dump(model, path / MODEL_JOBLIB)
    return "joblib"


def _library_versions() -> dict[str, str]:
    versions = {}
    for lib in (*EXACT_LIBRARIES, *MINOR_LIBRARIES):
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _model_libraries(model: Any) -> set[str]:
    """The distributions whose classes make up the model (estimators nested in pipelines too)."""
    dist = {"sklearn": "scikit-learn", "lightgbm": "lightgbm", "xgboost": "xgboost"}
    found: set[str] = set()
    stack = [model]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        top = type(obj).__module__.split(".")[0]
        if top in dist:
            found.add(dist[top])
        if hasattr(obj, "get_params"):
            stack.extend(v for v in obj.get_params(deep=False).values() if v is not None)
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
        for attr in ("steps", "transformers_", "transformers"):
            stack.extend(getattr(obj, attr, []) or [])
    return found


def _digests(path: Path) -> dict[str, str]:
    out = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel != MANIFEST and rel not in UNLISTED:
            out[rel] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


# -- loading ---------------------------------------------------------------------------------------
def manifest_digest(path: str | Path) -> str:
    """The sha256 of a bundle's manifest, which a model store keeps (under MANIFEST_DIGEST_KEY) to
    check it by."""
    return hashlib.sha256((Path(path) / MANIFEST).read_bytes()).hexdigest()


def recorded_digest(metadata: Mapping[str, Any], where: Any) -> str:
    """The manifest's sha256 a model store recorded in `metadata` for the bundle at `where`;
    BundleError when there is none (the store then vouches for nothing)."""
    expected = metadata.get(MANIFEST_DIGEST_KEY)
    if not isinstance(expected, str) or not expected:
        raise BundleError(
            f"the model store's metadata for {where} has no '{MANIFEST_DIGEST_KEY}'; "
            "save bundles with the training CLI or record the manifest's sha256 in the metadata"
        )
    return expected


def verify_bundle(
    path: str | Path,
    *,
    manifest_sha256: str | None = None,
    signing_key: bytes | None = None,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """The manifest, once the signature, every file's digest, the model's format, the library
    versions and the report's schema check out. Nothing in the bundle is executed.

    `manifest_sha256`, when given (e.g. from the model store's metadata), is checked against the
    manifest itself, which otherwise only vouches for the other files. With `signing_key`, the
    bundle must carry a valid signature under it (whoever can write the store can re-seal the
    digests, but not sign without the key). A pickled model (joblib) is refused unless
    `allow_pickle`: unpickling runs whatever code the file holds.
    """
    path = Path(path)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise BundleError(f"no {MANIFEST} in {path}: not a bundle")
    if signing_key is not None:
        check_signature(path, MANIFEST, signing_key)
    if manifest_sha256 is not None and manifest_digest(path) != manifest_sha256:
        raise BundleError(
            f"bundle file {MANIFEST} has been modified: its sha256 does not match the one recorded "
            "when the bundle was stored"
        )
    try:
        manifest = json.loads(manifest_file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleError(f"{MANIFEST} in {path} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise BundleError(f"bundle format {found} in {path}, this version reads {FORMAT_VERSION}")
    actual = _digests(path)
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise BundleError(f"{MANIFEST} in {path} lists no files")
    for rel, digest in listed.items():
        if rel not in actual:
            raise BundleError(f"bundle file {rel} is missing from {path}")
        if actual[rel] != digest:
            raise BundleError(f"bundle file {rel} has been modified: its sha256 does not match the manifest")
    extra = sorted(set(actual) - set(listed))
    if extra:
        raise BundleError(f"bundle holds files not in its manifest: {extra}")
    _check_model_format(path, manifest.get("model_format"), allow_pickle=allow_pickle)
    _check_versions(manifest)
    _load_report(path)  # its schema: refused here too, before a server starts its workers
    return manifest


def _check_model_format(path: Path, model_format: Any, *, allow_pickle: bool) -> None:
    """Refuse a pickled model (unless allowed) and a skops file with types outside the allow-list,
    before anything is loaded."""
    if model_format in PICKLE_FORMATS:
        if not allow_pickle:
            raise BundleError(
                f"{MODEL_JOBLIB} in {path} is a pickle, and loading a pickle runs whatever code it "
                "holds: refused. Save the model in a format that executes nothing (skops; see "
                "TRUSTED_TYPES), or, only if everyone who can write the model store is trusted, opt in "
                "(the service's ALLOW_PICKLE_BUNDLES=true; load_bundle(..., allow_pickle=True))"
            )
        return
    if model_format != "skops":
        raise BundleError(f"unknown model format {model_format!r} in the manifest of {path}")
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(file=path / MODEL_SKOPS)) - set(TRUSTED_TYPES)
    except Exception as e:  # skops reads a zip and its JSON schema; anything else is not a model
        raise BundleError(f"{MODEL_SKOPS} in {path} is not a skops file ({type(e).__name__}: {e})") from None
    if untrusted:
        raise BundleError(f"{MODEL_SKOPS} holds types outside the allow-list: {sorted(untrusted)}")


def _check_versions(manifest: dict[str, Any]) -> None:
    saved = manifest.get("libraries", {})
    here = _library_versions()
    for lib in EXACT_LIBRARIES:
        if lib in manifest.get("model_libraries", [lib]) and lib in saved and saved[lib] != here.get(lib):
            raise BundleError(
                f"bundle was saved with {lib} {saved[lib]}, but {lib} {here.get(lib, 'not installed')} "
                "is installed; the model must be loaded by the same version"
            )
    for lib in MINOR_LIBRARIES:
        if lib in saved and _minor(saved[lib]) != _minor(here.get(lib, "")):
            raise BundleError(
                f"bundle was saved with {lib} {saved[lib]}, but {lib} {here.get(lib, 'not installed')} "
                "is installed; major.minor versions must match"
            )


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_bundle(
    path: str | Path,
    *,
    manifest_sha256: str | None = None,
    signing_key: bytes | None = None,
    allow_pickle: bool = False,
) -> Bundle:
    """Verify (see `verify_bundle`) and load a bundle; raises BundleError naming the file or
    library at fault.

    Pass the store's `manifest_sha256` (BentoML metadata key "manifest_sha256") to check the
    manifest too, `signing_key` to require a valid signature, `allow_pickle=True` only to load a
    pickled (joblib) model from a store everyone who can write is trusted.
    """
    path = Path(path)
    manifest = verify_bundle(
        path, manifest_sha256=manifest_sha256, signing_key=signing_key, allow_pickle=allow_pickle
    )
    model = _load_model(path, manifest["model_format"])
    feature_map = None
    if (path / FEATURE_MAP).is_file():
        feature_map = FeatureMap.from_json(
            json.loads((path / FEATURE_MAP).read_text()),
            np.load(path / FEATURE_MAP_MATRIX, allow_pickle=False),
        )
    estimator = model[-1] if feature_map is not None else model
    try:
        explainer = load_explainer(path / EXPLAINER_DIR, estimator)
    except (KeyError, TypeError, ValueError) as error:
        # digests matched, so the state is as written: by a version of this code that differs
        raise BundleError(
            f"{EXPLAINER_DIR}/ holds explainer state this version of the code cannot read "
            f"({type(error).__name__}: {error}); build the bundle again with this version"
        ) from error
    bundle = Bundle(
        model=model,
        explainer=explainer,
        schema=Schema.from_json(json.loads((path / SCHEMA).read_text())),
        report=_load_report(path),
        feature_map=feature_map,
        manifest=manifest,
    )
    _self_check(bundle, path)
    return bundle


def _self_check(bundle: Bundle, path: Path) -> None:
    """Predict and explain one row the schema admits (each number mid-range, each category the
    first seen), so that state this code reads but cannot use (an array of another shape, say)
    fails here, at load, not on a user's first request."""
    row: dict[str, Any] = {}
    for f in bundle.schema.features:
        if f.categories:
            row[f.name] = f.categories[0]
        elif f.kind is Kind.BOOLEAN:
            row[f.name] = False
        elif f.minimum is not None and f.maximum is not None:
            middle = (f.minimum + f.maximum) / 2
            row[f.name] = round(middle) if f.kind is Kind.INTEGER else middle
        else:
            row[f.name] = None if f.nullable else 0
    try:
        frame = bundle.schema.validate([row])
    except ValidationError:
        return  # a schema whose rows this check cannot make: nothing to learn here
    try:
        answer = bundle.answer(frame, bundle.levels[0])
    except Exception as error:
        raise BundleError(
            f"the bundle in {path} loads but cannot explain a row with this version of the code "
            f"({type(error).__name__}: {error}); build the bundle again with this version"
        ) from error
    assert answer.explanation is not None


def _load_report(path: Path) -> Report:
    """The report, read through its schema (`scoring.report`): a field that does not match is named."""
    if not (path / REPORT).is_file():
        raise BundleError(f"no {REPORT} in {path}: a bundle holds its report")
    try:
        return Report.from_json(json.loads((path / REPORT).read_text()))
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleError(f"{REPORT} in {path} is not valid JSON: {e}") from None
    except BundleError as e:
        raise BundleError(
            f"{REPORT} in {path} does not match the report's schema (scoring.report): {e}; "
            "a bundle written by another version of this code: build it again with this version"
        ) from None


def _load_model(path: Path, model_format: str) -> Any:
    """The model, its format already checked by `verify_bundle` (skops types, the pickle opt-in)."""
    if model_format == "skops":
        import skops.io as sio

        file = path / MODEL_SKOPS
        try:
            return sio.load(
                file, trusted=sorted(set(sio.get_untrusted_types(file=file)) & set(TRUSTED_TYPES))
            )
        except Exception as e:
            raise BundleError(f"{MODEL_SKOPS} in {path} cannot be loaded ({type(e).__name__}: {e})") from None
    import joblib

    # joblib unpickles: reached only when the reader opted in (allow_pickle), every byte digested
    return joblib.load(path / MODEL_JOBLIB)
