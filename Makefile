# nbmlops — two commands: `make demo` and `make test`. Both set everything up from uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
BIN := .venv/bin
# Never download a Python build (only the package registries are reachable); compile bytecode at
# install time, because these machines set PYTHONDONTWRITEBYTECODE=1 and imports would recompile.
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON := $(shell command -v python3.11 2>/dev/null || command -v $(PYTHON))
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: help setup demo test lint typecheck bench ui clean system-deps screenshots

help:
	@echo "make demo   set up the pinned environment and run the example pipeline"
	@echo "make test   set up everything and run lint, types and the whole test suite"
	@echo "make bench  benchmarks (bench/), figures next to a baseline measured in the same run"

# uv itself, pinned, when the machine has none: in a private venv, or (Debian's python3 without
# python3-venv) as a --target install; its binary lands in .tools/bin either way.
.tools/bin/uv:
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv==$(UV_VERSION) \
	  || $(PYTHON) -m pip install --quiet --target .tools uv==$(UV_VERSION)

setup: .venv/.synced

# Ploomber's Jupyter extensions arrive enabled: one swaps in a contents manager that fails on
# jupyter_server 2 (JupyterLab cannot open a notebook), the other uploads notebooks to a cloud
# service. nbmlops uses neither; switched off in this environment.
.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode
	$(BIN)/python -m compileall -q nbmlops
	$(BIN)/jupyter server extension disable --sys-prefix ploomber >/dev/null 2>&1
	$(BIN)/jupyter server extension disable --sys-prefix ploomber_extension >/dev/null 2>&1
	$(BIN)/jupyter labextension disable --level=sys_prefix ploomber-extension >/dev/null 2>&1
	touch $@

# strace proves in a test that a run opens no connection beyond 127.0.0.1; Debian's Chromium is
# the browser of the JupyterLab tests (Playwright is pointed at it and never downloads one).
SYSTEM_PACKAGES := strace:strace chromium:chromium
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

typecheck: setup
	$(BIN)/mypy

test: setup system-deps lint typecheck
	$(BIN)/pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python bench/bench_run.py
	$(BIN)/python bench/bench_review.py

ui: setup
	$(BIN)/nbmlops ui

# README screenshots from the real review widget in JupyterLab (headless Chromium)
screenshots: demo system-deps
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf build .nbmlops .pytest_cache .mypy_cache .ruff_cache
