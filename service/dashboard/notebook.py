"""The dashboard inside a Jupyter notebook: the reference design's

    ExplanationDashboard(global_explanation, model, dataset=x_test, true_y=y_test)

shows this project's dashboard (the served one's page and data shapes) in an IFrame, from a
small server on a free loopback port in the notebook's own process. Its POST /predict answers
what-if and ICE with the model in the notebook, in the service's response shape; the page's
frame-ancestors allow the notebook's page (localhost, 127.0.0.1, VS Code webviews, or what
`frame_ancestors=` says).

The explanation's own values are what the page shows for the given rows; new rows (what-if,
ICE) are explained by an explainer of the model fitted here on those rows (the explanation's
method when it is linear or tree, else KernelSHAP over a 10-row summary).
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from scoring.bundle import Bundle
from scoring.compat.explanation import ExplanationBase
from scoring.compat.models import FunctionClassifier, adapt_model
from scoring.errors import ValidationError
from scoring.explainers import Method, choose_method, make_explainer
from scoring.explanation import Level
from scoring.report import ExplainerReport, Report
from scoring.sample import SAMPLE, build_sample
from scoring.schema import Schema
from service.batching import Job, run_jobs
from service.dashboard.app import DashboardSource, build_dashboard_app
from service.errors import error_response
from service.finite import finite_body, screen_rows
from service.limits import error_body
from service.outputs import Outputs
from service.requests import parse_predict
from service.responses import model_body, predict_body

# the pages allowed to frame the dashboard: a notebook served from this machine, VS Code's
NOTEBOOK_FRAME_ANCESTORS = (
    "'self' http://localhost:* http://127.0.0.1:* https://localhost:* https://127.0.0.1:* vscode-webview:"
)
MAX_ROWS = 5000  # rows of the dataset shown (sampled with seed 0 above this)
MAX_PREDICT_ROWS = 200  # an ICE curve asks for up to 100
KERNEL_BACKGROUND = 10
KERNEL_BUDGET = 256
START_TIMEOUT_S = 30


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ExplanationDashboard:
    """Show `explanation` of `model` over `dataset` (the rows it explains) in a notebook.

    `true_y` gives the dashboard's metrics and error cohorts; `classes` and `features` name the
    classes and columns when the explanation does not. `datasetX` and `trueY` are the older
    spellings of `dataset` and `true_y`. The server binds 127.0.0.1 (`port` None: a free one)
    and stops with `stop()` or when the notebook's kernel ends.
    """

    def __init__(
        self,
        explanation: ExplanationBase,
        model: Any = None,
        dataset: Any = None,
        true_y: Any = None,
        classes: Sequence[Any] | None = None,
        features: Sequence[Any] | None = None,
        public_ip: str | None = None,
        port: int | None = None,
        *,
        datasetX: Any = None,
        trueY: Any = None,
        frame_ancestors: str = NOTEBOOK_FRAME_ANCESTORS,
        show: bool = True,
    ):
        if public_ip not in (None, "127.0.0.1", "localhost"):
            raise ValidationError("the notebook dashboard serves on 127.0.0.1 only", field="public_ip")
        if not isinstance(explanation, ExplanationBase):
            raise ValidationError(
                f"expected an explanation from scoring.compat, got {type(explanation).__name__}",
                field="explanation",
            )
        if model is None:
            raise ValidationError(
                "the notebook dashboard needs the model (what-if and ICE call it)", field="model"
            )
        rows = dataset if dataset is not None else datasetX
        if rows is None:
            rows = explanation.eval_data
        if rows is None:
            raise ValidationError("pass dataset= (the rows the explanation explains)", field="dataset")
        y = true_y if true_y is not None else trueY
        self.explanation = explanation
        self.frame_ = _frame(rows, features if features is not None else explanation.features)
        self.bundle_, to_name = _bundle(explanation, model, self.frame_, classes)
        if y is None:
            self.y_ = np.asarray(self.bundle_.predict(self.frame_).labels)
        else:
            self.y_ = np.asarray([to_name.get(v, v) for v in np.asarray(y).tolist()], dtype=object)
        self.folder_ = Path(tempfile.mkdtemp(prefix="explanation-dashboard-"))
        doc = build_sample(
            self.bundle_,
            self.frame_,
            self.y_,
            max_rows=MAX_ROWS,
            explanations=_given(explanation, self.bundle_, self.frame_),
        )
        (self.folder_ / SAMPLE).write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/dashboard/"
        self._server = _start(self._app(frame_ancestors), self.port)
        if show:
            _display(self)

    def _app(self, frame_ancestors: str) -> Starlette:
        bundle = self.bundle_
        source = DashboardSource(bundle=bundle, path=self.folder_, name="notebook")
        outputs = Outputs.of(bundle)
        model = model_body("notebook", "in-process")

        async def predict(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse(error_body("the body is not JSON"), status_code=400)
            try:
                if not isinstance(body, dict):
                    raise ValidationError("expected a JSON object with 'rows'")
                unknown = sorted(set(body) - {"rows", "explain", "top_k", "level", "target"})
                if unknown:
                    raise ValidationError(f"unknown field(s) {unknown}")
                checked = parse_predict(bundle, max_rows=MAX_PREDICT_ROWS, **body)
                frame, screen = screen_rows(checked.frame)
                level = checked.options.level if checked.options.explain else None
                outcome = run_jobs(bundle, [Job(frame, level)])[0]
                answer = predict_body(
                    model, outputs, outcome.prediction, outcome.explanation, checked.options
                )
                answer = finite_body(
                    answer, outcome.prediction, outcome.explanation, screen, len(checked.frame)
                )
            except Exception as error:
                return error_response(error, "POST /predict (notebook dashboard)")
            return JSONResponse(answer)

        async def root(request: Request) -> Response:
            return RedirectResponse("/dashboard/", status_code=307)

        return Starlette(
            routes=[
                Route("/", root),
                Route("/predict", predict, methods=["POST"]),
                Mount("/dashboard", app=build_dashboard_app(lambda: source, frame_ancestors=frame_ancestors)),
            ]
        )

    def _repr_html_(self) -> str:
        return (
            f'<iframe src="{self.url}" width="100%" height="900" frameborder="0" '
            f'title="explanation dashboard"></iframe><br><a href="{self.url}" target="_blank">{self.url}</a>'
        )

    def stop(self) -> None:
        """Stop the server (the IFrame then shows nothing new)."""
        self._server.should_exit = True


def _display(dashboard: ExplanationDashboard) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        print(f"explanation dashboard: {dashboard.url}")
        return
    if get_ipython() is None:
        print(f"explanation dashboard: {dashboard.url}")
        return
    display(HTML(dashboard._repr_html_()))


def _frame(rows: Any, features: Sequence[Any] | None) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.set_axis([str(c) for c in rows.columns], axis=1).reset_index(drop=True)
    array = np.asarray(rows)
    if array.ndim == 1:
        array = array[None, :]
    names = [str(f) for f in features] if features is not None else [str(j) for j in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise ValidationError(f"{len(names)} feature names for {array.shape[1]} columns", field="features")
    return pd.DataFrame(array, columns=names).infer_objects()


def _bundle(
    explanation: ExplanationBase, model: Any, frame: pd.DataFrame, classes: Sequence[Any] | None
) -> tuple[Bundle, dict[Any, str]]:
    """The model (as the engine takes it) and an explainer of it over the dataset's rows, and the
    class names of the model's labels when the explanation names them otherwise."""
    adapted, task = adapt_model(model, frame, model_task=explanation.model_task)
    method = choose_method(adapted, frame.shape[1])
    if method not in (Method.LINEAR, Method.TREE):
        method = Method.KERNEL
    classification = str(task) == "classification"
    labels = list(getattr(adapted, "classes_", [])) if classification else []
    names = classes if classes is not None else getattr(explanation, "_classes", None)
    to_name: dict[Any, str] = {}
    if classification and names is not None and [str(c) for c in names] != [str(c) for c in labels]:
        if len(names) != len(labels):
            raise ValidationError(f"{len(names)} class names for {len(labels)} classes", field="classes")
        # the page names classes as the explanation does: a model whose labels are those names
        to_name = {label: str(name) for label, name in zip(labels, names, strict=True)}
        adapted = FunctionClassifier(adapted.predict_proba, [str(c) for c in names])
        labels = list(adapted.classes_)
        method = Method.KERNEL
    explainer = make_explainer(  # options only where the method takes them (others are errors)
        adapted,
        frame,
        str(method),
        n_background=None if method is Method.LINEAR else KERNEL_BACKGROUND,
        budget=KERNEL_BUDGET if method is Method.KERNEL else None,
    )
    schema = Schema.from_frame(frame, task=str(task), classes=labels)
    report = Report(
        task=str(task), explainer=ExplainerReport(method=str(method), explains="the model in the notebook")
    )
    return Bundle(model=adapted, explainer=explainer, schema=schema, report=report), to_name


def _given(explanation: ExplanationBase, bundle: Bundle, frame: pd.DataFrame) -> dict[Level, Any] | None:
    """The explanation's own engine values for the dataset's rows, at every level the bundle shows."""
    engine = explanation.explanation
    if engine is None or engine.n_rows != len(frame) or len(frame) > MAX_ROWS:
        return None
    if tuple(engine.feature_names) != tuple(bundle.schema.names):
        engine = engine.__class__(**{**engine.__dict__, "feature_names": tuple(bundle.schema.names)})
    return {level: engine for level in bundle.levels}


def _start(app: Starlette, port: int) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="explanation-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    return server
