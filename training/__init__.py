"""Training: fit a model, fit its scoring explainer, evaluate, save one bundle to the BentoML
model store, build the Bento. A CLI (`python -m training`) and a Python API:

    import training
    saved = training.save_model("my_model", fitted_model, X_train, X_eval=X_test, y_eval=y_test)
    bento_tag = training.build_bento()
"""

from training.bento import BuildError, build_bento
from training.package import BuiltBundle, SavedBundle, build_bundle, save_model
from training.store import load_from_store, save_to_store

__all__ = [
    "BuildError",
    "BuiltBundle",
    "SavedBundle",
    "build_bento",
    "build_bundle",
    "load_from_store",
    "save_model",
    "save_to_store",
]
