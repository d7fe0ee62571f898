"""The seed guide's local notebook flow, with only its imports changed, executed headless by
nbclient in a real IPython kernel; the dashboard it shows is then opened in Debian's Chromium
inside a page of another origin (as a notebook page frames it), and its what-if and ICE are
checked against the model living in the kernel.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS, _missing_browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

if (_reason := _missing_browser()) is not None:
    pytest.skip(_reason, allow_module_level=True)
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from playwright.sync_api import sync_playwright  # noqa: E402

# The guide's cells; the only changes: the import lines, a fixed random_state, 20 test rows
CELLS = [
    """
from sklearn.datasets import load_breast_cancer
from sklearn import svm
from sklearn.model_selection import train_test_split
import warnings
warnings.filterwarnings("ignore")
breast_cancer_data = load_breast_cancer()
classes = breast_cancer_data.target_names.tolist()
x_train, x_test, y_train, y_test = train_test_split(breast_cancer_data.data, breast_cancer_data.target,
                                                    test_size=0.2, random_state=0)
x_test, y_test = x_test[:20], y_test[:20]
clf = svm.SVC(gamma=0.001, C=100., probability=True)
model = clf.fit(x_train, y_train)
""",
    """
from scoring.compat import TabularExplainer
explainer = TabularExplainer(model, x_train, features=breast_cancer_data.feature_names, classes=classes)
global_explanation = explainer.explain_global(x_test)
sorted_global_importance_names = global_explanation.get_ranked_global_names()
print(sorted_global_importance_names[:3])
""",
    "global_explanation",
    """
from service.dashboard.notebook import ExplanationDashboard
dashboard = ExplanationDashboard(global_explanation, model, datasetX=x_test, true_y=y_test)
""",
]


def _html(cell: Any) -> str:
    for output in cell.get("outputs", []):
        html = output.get("data", {}).get("text/html")
        if html:
            return "".join(html) if isinstance(html, list) else html
    return ""


def _run(client: Any, nb: Any, source: str) -> str:
    """Run one more cell in the live kernel; its printed output."""
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


class _Host(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def host_page() -> Iterator[Any]:
    """A page on another loopback origin that frames a URL, as a notebook's page does."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def frame(url: str) -> str:
        frame = f'<iframe id="nb" src="{url}" width="1300" height="950"></iframe>'
        _Host.page = f"<html><body>{frame}</body></html>".encode()
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield frame
    server.shutdown()


def test_guide_notebook_runs_and_shows_the_dashboard(tmp_path: Path, host_page: Any) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    with client.setup_kernel(env={"BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(tmp_path)}):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        assert "shap.kernel" in _html(nb.cells[2])  # an explanation renders itself in the notebook
        frame_html = _html(nb.cells[3])
        match = re.search(r'<iframe src="(http://127\.0\.0\.1:\d+/dashboard/)"', frame_html)
        assert match, frame_html
        url = match.group(1)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(host_page(url))
                frame = page.frame_locator("#nb")
                frame.locator("body[data-ready=true]").wait_for(timeout=30000)

                # what-if: edit the first row's "mean radius"; the page shows the kernel's model
                frame.locator("#tab-individual").click()
                frame.locator("text=Select row 0").first.click()
                frame.locator("#individual-chart").wait_for()
                frame.locator("#tab-whatif").click()
                field = frame.locator('[data-feature="mean radius"]')
                edited = round(float(field.input_value()) + 3.0, 3)
                field.fill(str(edited))
                frame.locator("#whatif-predict").click()
                frame.locator("#whatif-prediction").wait_for()
                shown = dict(
                    frame.locator("#whatif-probabilities td[data-class]").evaluate_all(
                        "els => els.map(e => [e.dataset.class, Number(e.dataset.value)])"
                    )
                )
                truth = json.loads(
                    _run(
                        client,
                        nb,
                        "import json; row = x_test[0].copy(); row[0] = " + repr(edited) + "\n"
                        "print(json.dumps(dict(zip(classes, model.predict_proba([row])[0].tolist()))))",
                    )
                )
                assert shown == pytest.approx(truth, rel=1e-6)

                # ICE over "mean radius": one curve, drawn from the kernel's model
                frame.locator("#tab-ice").click()
                frame.locator("#ice-feature").select_option("mean radius")
                frame.locator("#ice-points").fill("15")
                frame.locator("#ice-draw").click()
                frame.locator("#ice-chart svg").first.wait_for()
                assert not [e for e in errors if "Content Security Policy" in e or "frame" in e.lower()], (
                    errors
                )
            finally:
                browser.close()
        _run(client, nb, "dashboard.stop()")
