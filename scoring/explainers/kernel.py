"""The compact black-box explainer: KernelSHAP over a weighted k-means background."""

from __future__ import annotations

from typing import Any

import numpy as np

from scoring.background import Background, summarize
from scoring.explainers.base import ScoringExplainer
from scoring.explainers.coalitions import Design, coalition_values, make_design, shapley_operator
from scoring.explanation import Method


class KernelExplainer(ScoringExplainer):
    """KernelSHAP with stratified, paired coalition sampling and exact efficiency.

    `budget` coalitions per row (model evaluations per row = budget x background size). One
    coalition design is drawn at fit time from `seed` and shared by every row, so the regression
    is solved once and a row's explanation does not depend on the other rows of a request. The
    standard error comes from a bootstrap over the sampled coalition pairs (`n_bootstrap`).
    """

    method = Method.KERNEL

    def __init__(
        self,
        *,
        n_background: int = 20,
        budget: int = 512,
        sampling: str = "leverage",
        n_bootstrap: int = 20,
        seed: int = 0,
    ):
        self.n_background = n_background
        self.budget = budget
        self.sampling = sampling
        self.n_bootstrap = n_bootstrap
        self.seed = seed

    def _fit(self, X: np.ndarray) -> None:
        self.background_ = summarize(X, self.n_background, seed=self.seed)
        self.expected_value_ = self.background_.weights @ self.output_(self.background_.rows)
        self._set_design(make_design(X.shape[1], self.budget, sampling=self.sampling, seed=self.seed))

    def _set_design(self, design: Design) -> None:
        self.design_ = design
        self.operator_ = shapley_operator(design.masks, design.weights)
        self.bootstrap_ = self._bootstrap_operators(design)

    def _bootstrap_operators(self, design: Design) -> list[tuple[np.ndarray, np.ndarray]]:
        """Operators for designs whose sampled pairs are resampled with replacement per stratum."""
        sampled = design.strata >= 0
        if not sampled.any() or self.n_bootstrap == 0:
            return []
        rng = np.random.default_rng(self.seed + 1)
        ops = []
        for _ in range(self.n_bootstrap):
            multiplicity = np.ones(len(design.weights))
            for stratum in np.unique(design.strata[sampled]):
                pairs = np.unique(design.pair_ids[design.strata == stratum])
                drawn = rng.choice(pairs, size=len(pairs), replace=True)
                counts = dict(zip(*np.unique(drawn, return_counts=True), strict=True))
                in_stratum = design.strata == stratum
                multiplicity[in_stratum] = [counts.get(p, 0) for p in design.pair_ids[in_stratum]]
            ops.append(shapley_operator(design.masks, design.weights * multiplicity))
        return ops

    def _explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        f = self.output_
        outputs = f(X)
        v = coalition_values(f, X, self.design_.masks, self.background_)
        dv = v - self.expected_value_[None, None, :]
        delta = outputs - self.expected_value_[None, :]
        g, h = self.operator_
        values = np.einsum("mc,nck->nmk", g, dv) + h[None, :, None] * delta[:, None, :]
        stderr = None
        if self.bootstrap_:
            boots = np.stack(
                [
                    np.einsum("mc,nck->nmk", gb, dv) + hb[None, :, None] * delta[:, None, :]
                    for gb, hb in self.bootstrap_
                ]
            )
            stderr = boots.std(axis=0, ddof=1)
        elif self.n_bootstrap:
            stderr = np.zeros_like(values)  # every coalition enumerated: nothing was sampled
        return values, outputs, stderr

    @property
    def evaluations_per_row_(self) -> int:
        return int(self.design_.masks.shape[0] * self.background_.size)

    def _arrays(self) -> dict[str, np.ndarray]:
        d = self.design_
        return {
            "background": self.background_.rows,
            "background_weights": self.background_.weights,
            "masks": d.masks,
            "weights": d.weights,
            "strata": d.strata,
            "pair_ids": d.pair_ids,
        }

    def _restore(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.background_ = Background(arrays["background"], arrays["background_weights"])
        self._set_design(Design(arrays["masks"], arrays["weights"], arrays["strata"], arrays["pair_ids"]))
