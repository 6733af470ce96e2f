# nbmlops — two commands: `make demo` and `make test`. Both set everything up from uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
BIN := .venv/bin
# Never download a Python build (only the package registries are reachable); compile bytecode at
# install time, because these machines set PYTHONDONTWRITEBYTECODE=1 and imports would recompile.
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
# The interpreter itself, not a launcher (a pyenv shim is a script): uv compares the path with the
# environment's, and a mismatch makes every `uv sync` delete and recreate .venv.
export UV_PYTHON := $(shell $$(command -v python3.11 2>/dev/null || command -v $(PYTHON)) \
  -c 'import sys; print(sys.executable)')
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: help setup demo test lint typecheck ext-test bench ui lab clean system-deps screenshots \
  team-up team-down

help:
	@echo "make demo   set up the pinned environment and run the example pipeline"
	@echo "make test   set up everything and run lint, types and the whole test suite"
	@echo "make lab    JupyterLab on the example project, with the Pipeline panel and MLflow UI"
	@echo "make bench  benchmarks (bench/), figures next to a baseline measured in the same run"
	@echo "make team-up / team-down  a team's MLflow server on PostgreSQL (README: Teams)"

# uv itself, pinned, when the machine has none: in a private venv, or (Debian's python3 without
# python3-venv) as a --target install; its binary lands in .tools/bin either way.
.tools/bin/uv:
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv==$(UV_VERSION) \
	  || $(PYTHON) -m pip install --quiet --target .tools uv==$(UV_VERSION)

setup: .venv/.synced

# 1. the locked dependencies; 2. the JupyterLab extension (extension/, TypeScript) built with the
# environment's jlpm from the committed yarn.lock; 3. nbmlops itself, whose wheel ships the built
# extension and the Jupyter config (server extension on, Ploomber's Jupyter extensions off).
.venv/.deps: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --no-install-project
	touch $@

JLPM := PATH=$(CURDIR)/$(BIN):$$PATH jlpm
EXT_SOURCES := $(shell find extension/src extension/style -type f 2>/dev/null) \
  extension/package.json extension/tsconfig.json extension/.yarnrc.yml

extension/node_modules/.yarn-state.yml: extension/package.json extension/yarn.lock | .venv/.deps
	cd extension && $(JLPM) install --immutable
	touch $@

nbmlops/labextension/package.json: $(EXT_SOURCES) extension/node_modules/.yarn-state.yml
	cd extension && $(JLPM) build:prod

.venv/.synced: .venv/.deps nbmlops/labextension/package.json extension/install.json \
		$(wildcard nbmlops/server/config/*.json)
	$(UV) sync --frozen --compile-bytecode
	$(BIN)/python -m compileall -q nbmlops
	touch $@

# strace proves in a test that a run opens no connection beyond 127.0.0.1; Debian's Chromium is
# the browser of the JupyterLab tests (Playwright is pointed at it and never downloads one) and
# prints the audit report's PDF, whose text the tests read with poppler's pdftotext;
# Debian's PostgreSQL server is the team tracking server's store (tests/team.py starts its own).
SYSTEM_PACKAGES := strace:strace chromium:chromium pdftotext:poppler-utils /usr/lib/postgresql/*/bin/initdb:postgresql
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; fi

demo: setup
	$(BIN)/nbmlops run demo
	@echo
	@echo "Look at: build/demo/<stage>/<stage>.html (executed notebooks), 'make ui' or"
	@echo "'$(BIN)/nbmlops ui' (MLflow on 127.0.0.1:5000), '$(BIN)/nbmlops audit verify' (ledger);"
	@echo "review and sign the model: '$(BIN)/nbmlops signer add ID --name NAME', then"
	@echo "'$(BIN)/nbmlops review latest' writes a review notebook for JupyterLab."

lint: setup
	$(BIN)/ruff check nbmlops tests bench notebooks docs
	$(BIN)/ruff format --check nbmlops tests bench notebooks docs
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy

# the extension's TypeScript: the template's linters (eslint, prettier, stylelint), strict types
# (sources and tests) and the vitest unit tests
ext-test: setup
	cd extension && $(JLPM) lint:check && $(JLPM) typecheck && $(JLPM) test

test: setup system-deps lint typecheck ext-test
	$(BIN)/pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python bench/bench_run.py
	$(BIN)/python bench/bench_review.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_sweep_demo.py

ui: setup
	$(BIN)/nbmlops ui

# JupyterLab on the example project (Pipeline panel on the left, Stage button in each notebook),
# with the MLflow UI beside it so the panel's run links open; both on 127.0.0.1, both stopped by ^C.
LAB_PORT ?= 8888
MLFLOW_PORT ?= 5000
lab: setup
	@mkdir -p .nbmlops; $(BIN)/nbmlops ui --port $(MLFLOW_PORT) >.nbmlops/ui.log 2>&1 & ui=$$!; \
	trap "kill $$ui 2>/dev/null" EXIT INT TERM; \
	NBMLOPS_MLFLOW_UI=http://127.0.0.1:$(MLFLOW_PORT) $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 \
	  --ServerApp.port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) --no-browser \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/train.ipynb

# A team's tracking server (README "Teams: a shared tracking server"): PostgreSQL and `mlflow
# server` (basic-auth, artifacts kept in TEAM_ARTIFACTS) on 127.0.0.1, their data in TEAM_DIR,
# left running until `make team-down`. MLflow's admin password comes from the environment:
#   MLFLOW_AUTH_ADMIN_PASSWORD=... make team-up
TEAM_DIR ?= .team
export TEAM_PG_PORT ?= 5433
export TEAM_MLFLOW_PORT ?= 5001
team-up: setup
	$(BIN)/python tests/team.py up $(TEAM_DIR)

team-down: setup
	$(BIN)/python tests/team.py down $(TEAM_DIR)

# README screenshots from the real review widget in JupyterLab (headless Chromium)
screenshots: demo system-deps
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf build .nbmlops .pytest_cache .mypy_cache .ruff_cache extension/lib nbmlops/labextension
