"""What the rewritten imports of the reference's test files resolve to (this harness only).

Every public name comes from scoring.compat. Names the in-scope tests import but that are the
reference's private internals or belong to out-of-scope areas (DNN/GPU explainers, private
factories) are placeholders that raise when used; `ndcg` and `reformat_importance_values` are
the reference's test-side helpers, re-written here from their documented behaviour;
`DatasetWrapper` is ml_wrappers' (the reference re-exports it).
"""

from ml_wrappers import DatasetWrapper  # noqa: F401

from scoring.compat import *  # noqa: F403
from scoring.compat import __all__ as _public  # noqa: F401


def _out_of_scope(name):
    def fail(*args, **kwargs):
        raise NotImplementedError(f"{name} is a private or out-of-scope part of the reference")

    fail.__name__ = name
    return fail


for _name in [
    "_summarize_data",
    "_create_local_explanation",
    "_get_uninitialized_explainers",
    "DeepExplainer",
    "GPUKernelExplainer",
    "KernelExplainer",
    "LinearExplainer",
    "TreeExplainer",
]:
    globals()[_name] = _out_of_scope(_name)


from ic_helpers import _DatasetsMixin, ndcg, reformat_importance_values  # noqa: E402,F401
