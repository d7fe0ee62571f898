"""Test-side helpers of the reference (re-written from their documented behaviour), shared by both shims."""

import numpy as np
from ml_wrappers import DatasetWrapper  # noqa: F401


class _DatasetsMixin:  # private mixin of the reference's explanation classes
    pass


def reformat_importance_values(values, convert_to_list=False):
    """shap >= 0.46 gives (n, M, K) arrays; the reference's layout is per class first."""
    if isinstance(values, np.ndarray) and values.ndim == 3:
        values = np.moveaxis(values, 2, 0)
        return list(values) if convert_to_list else values
    return values


def ndcg(validate_order, ground_truth_order, top_values=10):
    """Normalized discounted cumulative gain of one ranking against another (relevance 0..10)."""
    n = len(ground_truth_order)
    relevance = {v: (n - i) / n * 10.0 for i, v in enumerate(ground_truth_order)}

    def dcg(order):
        return sum(
            (2 ** relevance.get(v, 0.0) - 1) / np.log2(i + 2) for i, v in enumerate(list(order)[:top_values])
        )

    best = dcg(ground_truth_order)
    return dcg(validate_order) / best if best else 0.0
