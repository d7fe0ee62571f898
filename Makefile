# `make serve`: set up, train the default bundle, build the Bento, serve it on :3000.
# `make test`:  set up, lint, type-check and run the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BENTOML_DO_NOT_TRACK := true

.PHONY: setup serve train test lint bench browser clean lock container-test

setup: $(STAMP)

# the pinned dependencies, then the project itself (editable: `import training` and the
# console scripts work from any directory with .venv's python)
$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# `make train` always trains (a new version of the default bundle); `make serve` trains only
# when the model store has no default bundle yet
train: setup
	$(BIN)/python -m training

serve: setup
	$(BIN)/bentoml models get breast_cancer_svc:latest >/dev/null 2>&1 || $(BIN)/python -m training
	$(BIN)/bentoml serve service:ExplainedModel --host $${HOST:-127.0.0.1} --port $${PORT:-3000}

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the dashboard's browser tests drive Debian's chromium (never a downloaded browser)
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint browser
	$(BIN)/python -m pytest -q

# builds and runs images with buildah + podman (installed from Debian's packages when missing):
# an image of a non-default bundle, and the default image; minutes, so not part of `make test`
container-test: setup
	RUN_CONTAINER_SMOKE=1 $(BIN)/python -m pytest -q -s tests/e2e/test_container.py

bench: setup
	$(BIN)/python -m bench

# refresh the locks after editing pyproject.toml's dependencies
lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra train --extra lightgbm --extra xgboost --extra batch --python-version 3.11 -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
