"""What a job says about the whole table, built as a reduction of small per-partition figures:
row counts, the sum of |attribution| per feature and output, a histogram of the stated errors,
and counts of features outside what training saw. No row is ever collected."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# stated errors are counted in log-spaced bins from 1e-12 to 1e4, 64 per decade (3.7% wide);
# quantiles are read back as a bin's geometric middle, so they are within 1.8% of the true ones
ERROR_EDGES = np.logspace(-12, 4, 16 * 64 + 1)
QUANTILES = (0.5, 0.9, 0.99)


@dataclass
class PartitionStats:
    """Figures of one partition (or, merged, of several)."""

    rows: int
    explained: int
    skipped: int
    seconds: float
    abs_sum: np.ndarray  # (M, K): sum over explained rows of |attribution|
    error_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(ERROR_EDGES) + 1, dtype=np.int64))
    error_zero: int = 0  # stated errors that are exactly 0
    error_max: float | None = None
    outside: np.ndarray | None = None  # (M,) rows with the feature outside what training saw
    rows_outside: int = 0  # rows with any feature outside

    def add_errors(self, errors: np.ndarray) -> None:
        errors = np.asarray(errors, dtype=float).ravel()
        if errors.size == 0:
            return
        zero = errors == 0
        self.error_zero += int(zero.sum())
        positive = errors[~zero]
        self.error_counts += np.bincount(
            np.searchsorted(ERROR_EDGES, positive), minlength=len(ERROR_EDGES) + 1
        ).astype(np.int64)
        top = float(errors.max())
        self.error_max = top if self.error_max is None else max(self.error_max, top)

    def add_outside(self, outside: np.ndarray) -> None:
        outside = np.asarray(outside, dtype=bool)
        counts = outside.sum(axis=0).astype(np.int64)
        self.outside = counts if self.outside is None else self.outside + counts
        self.rows_outside += int(outside.any(axis=1).sum())

    def merge(self, other: PartitionStats) -> PartitionStats:
        outside = self.outside if other.outside is None else other.outside
        if self.outside is not None and other.outside is not None:
            outside = self.outside + other.outside
        maxima = [m for m in (self.error_max, other.error_max) if m is not None]
        return PartitionStats(
            rows=self.rows + other.rows,
            explained=self.explained + other.explained,
            skipped=self.skipped + other.skipped,
            seconds=self.seconds + other.seconds,
            abs_sum=self.abs_sum + other.abs_sum,
            error_counts=self.error_counts + other.error_counts,
            error_zero=self.error_zero + other.error_zero,
            error_max=max(maxima) if maxima else None,
            outside=outside,
            rows_outside=self.rows_outside + other.rows_outside,
        )

    def error_quantiles(self) -> dict[str, float] | None:
        """Approximate quantiles of the stated errors (None when the method states none)."""
        total = self.error_zero + int(self.error_counts.sum())
        if total == 0:
            return None
        middles = np.sqrt(ERROR_EDGES[:-1] * ERROR_EDGES[1:])
        cumulative = self.error_zero + np.cumsum(self.error_counts)
        out: dict[str, float] = {}
        for q in QUANTILES:
            rank = q * total
            if rank <= self.error_zero:
                out[f"p{round(q * 100)}"] = 0.0
                continue
            b = int(np.searchsorted(cumulative, rank))
            out[f"p{round(q * 100)}"] = float(middles[min(max(b - 1, 0), len(middles) - 1)])
        out["max"] = float(self.error_max or 0.0)
        return out

    def to_json(self) -> dict[str, Any]:
        nonzero = np.flatnonzero(self.error_counts)
        return {
            "rows": self.rows,
            "explained": self.explained,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "abs_sum": self.abs_sum.tolist(),
            "error_bins": nonzero.tolist(),
            "error_bin_counts": self.error_counts[nonzero].tolist(),
            "error_zero": self.error_zero,
            "error_max": self.error_max,
            "outside": None if self.outside is None else self.outside.tolist(),
            "rows_outside": self.rows_outside,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PartitionStats:
        counts = np.zeros(len(ERROR_EDGES) + 1, dtype=np.int64)
        counts[np.asarray(d["error_bins"], dtype=int)] = d["error_bin_counts"]
        return cls(
            rows=int(d["rows"]),
            explained=int(d["explained"]),
            skipped=int(d["skipped"]),
            seconds=float(d["seconds"]),
            abs_sum=np.asarray(d["abs_sum"], dtype=float),
            error_counts=counts,
            error_zero=int(d["error_zero"]),
            error_max=d["error_max"],
            outside=None if d["outside"] is None else np.asarray(d["outside"], dtype=np.int64),
            rows_outside=int(d["rows_outside"]),
        )


def global_importance(
    stats: PartitionStats, feature_names: tuple[str, ...], output_names: tuple[str, ...]
) -> dict[str, Any]:
    """Mean |attribution| per feature and output over the explained rows, as the training
    report's `global_importance` entries are shaped."""
    mean = stats.abs_sum / max(stats.explained, 1)
    return {
        "rows": stats.explained,
        "feature_names": list(feature_names),
        "output_names": list(output_names),
        "mean_abs": mean.tolist(),
        "mean_abs_overall": mean.mean(axis=1).tolist(),
    }


def out_of_range(stats: PartitionStats, feature_names: tuple[str, ...]) -> dict[str, Any] | None:
    """Counts of rows with features outside what training saw (None when the bundle does not say)."""
    if stats.outside is None:
        return None
    return {
        "rows": stats.rows_outside,
        "features": {n: int(c) for n, c in zip(feature_names, stats.outside.tolist(), strict=True) if c},
    }


def importance_plot(importance: dict[str, Any], title: str, top: int = 20) -> bytes:
    """A PNG bar chart of the largest mean |attribution| features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = np.asarray(importance["mean_abs_overall"], dtype=float)
    order = np.argsort(-overall, kind="stable")[:top][::-1]
    names = [importance["feature_names"][j] for j in order]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.2))
    ax.barh(names, overall[order], color="#3b75af")
    ax.set_xlabel("mean |attribution| over rows and outputs")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()
