"""What every scoring explainer shares: fitting the model's output function, state on disk."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from scoring.errors import NotFittedError, ShapeError
from scoring.explanation import Explanation, Level, Method, Space
from scoring.model_output import Columns, ModelOutput, make_output
from scoring.state import save_state
from scoring.support import Support


class ScoringExplainer(ABC):
    """A compact explainer, scikit-learn style: parameters in `__init__`, state ending in `_`.

    `fit(model, X)` learns from the model and background rows; `explain(X)` returns one
    `Explanation`; `save(path)` / `load(path, model)` persist the fitted state as JSON + arrays.
    """

    method: ClassVar[Method]

    output_: ModelOutput
    expected_value_: np.ndarray
    support_: Support | None = None

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    @classmethod
    def _param_names(cls) -> list[str]:
        import inspect

        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        model: Any,
        X: Any,
        *,
        feature_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> Self:
        columns = Columns.from_data(X, feature_names)
        self.output_ = make_output(model, columns, self._space(model), class_names)
        rows = columns.to_array(X)
        self.support_ = Support.of(rows)
        self._fit(rows)
        return self

    def _space(self, model: Any) -> Space | None:
        """The output space this method explains for `model`; None means the model's default."""
        return None

    @abstractmethod
    def _fit(self, X: np.ndarray) -> None: ...

    @property
    def feature_names_in_(self) -> tuple[str, ...]:
        return self._fitted().columns.names

    @property
    def output_names_(self) -> tuple[str, ...]:
        return self._fitted().output_names

    @property
    def space_(self) -> Space:
        return self._fitted().space

    def _fitted(self) -> ModelOutput:
        if not hasattr(self, "output_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(model, X) first")
        return self.output_

    # -- explaining ----------------------------------------------------------------------------
    def explain(
        self,
        X: Any,
        *,
        outside: np.ndarray | None = None,
        outputs: np.ndarray | None = None,
        check: bool = True,
    ) -> Explanation:
        """Explain rows X. Features outside the fit rows' range are flagged in `outside` of the
        result, beside those the caller flags in `outside` (n, M) (e.g. unseen categories).

        `outputs` (n, K), when the caller has them, are `output_(X)`: the model's output in the
        explained space for these rows, computed once for the prediction and reused here, so the
        model is not called again for them. Methods whose outputs come from their own arithmetic
        (linear, path-dependent tree, exact enumeration) do not need them.

        `check=False` skips the sampled check a method makes of a flagged row's stated error
        (amortized), for a caller that refines every flagged row at once and states its error
        from the refinement (scoring.refine.replaces_checks); methods without one ignore it."""
        out = self._fitted()
        rows = out.columns.to_array(X)
        flagged = np.zeros(rows.shape, dtype=bool) if self.support_ is None else self.support_.outside(rows)
        if outside is not None:
            if np.shape(outside) != rows.shape:
                raise ShapeError(f"outside has shape {np.shape(outside)}, expected {rows.shape}")
            flagged |= np.asarray(outside, dtype=bool)
        if outputs is not None and np.shape(outputs) != (len(rows), len(out.output_names)):
            raise ShapeError(
                f"outputs has shape {np.shape(outputs)}, expected {(len(rows), len(out.output_names))}"
            )
        values, outputs, stderr = self._explain_flagged(rows, flagged, outputs, check=check)
        return Explanation(
            values=values,
            base_values=self.expected_value_,
            outputs=outputs,
            feature_names=out.columns.names,
            output_names=out.output_names,
            space=out.space,
            method=self.method,
            level=Level.ENGINEERED,
            stderr=stderr,
            data=rows,
            outside=flagged,
        )

    def _explain_flagged(
        self, X: np.ndarray, outside: np.ndarray, outputs: np.ndarray | None = None, *, check: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`_explain` for rows with the features outside what training saw flagged (n, M); a
        method whose values depend on the training support overrides it."""
        return self._explain(X, outputs)

    @abstractmethod
    def _explain(
        self, X: np.ndarray, outputs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(values (n, M, K), outputs (n, K), stderr or None) for rows already in column order;
        `outputs`, when given, are `output_(X)` already computed (see `explain`)."""

    # -- state ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        out = self._fitted()
        config = {
            "method": str(self.method),
            "params": self.get_params(),
            "columns": out.columns.to_json(),
            "space": str(out.space),
            "output_names": list(out.output_names),
            "extra": self._extra_config(),
        }
        support = {} if self.support_ is None else self.support_.to_arrays()
        save_state(path, config, {"expected_value": self.expected_value_, **support, **self._arrays()})

    def _extra_config(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]: ...

    @classmethod
    def _from_state(cls, model: Any, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        explainer = cls(**config["params"])
        columns = Columns.from_json(config["columns"])
        explainer.output_ = ModelOutput(
            model=model,
            columns=columns,
            space=Space(config["space"]),
            output_names=tuple(config["output_names"]),
        )
        explainer.expected_value_ = arrays.pop("expected_value")
        explainer.support_ = Support.from_arrays(arrays)
        explainer._restore(arrays, config.get("extra", {}))
        return explainer

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None: ...
