# The project's commands. Everything installs itself: a pinned uv in .tools/,
# the workspace in .venv/, and Redis/RabbitMQ on 127.0.0.1 for the tests.
SHELL := /bin/bash
UV_VERSION := 0.13.8
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: install lint test conformance bench soak run services services-stop clean dist docs

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install time: with PYTHONDONTWRITEBYTECODE set (as on
# many CI images) every daphne/runworker start would otherwise recompile its
# imports, about two seconds a process.
install: $(UV)
	$(UV) sync --frozen --all-packages --compile-bytecode --python $(PYTHON)
	$(PY) -m compileall -q -j 0 packages/*/src conformance/src

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(shell scripts/mypy_targets.sh)

## Lint, then every package's tests and the conformance suite for every layer,
## against real servers that it starts (and stops again) itself.
test: install
	scripts/test.sh

## Run the conformance suite against any layer: make conformance LAYER=module:attr [CONFIG='{...}']
conformance: install
	$(PY) -m asgi_conformance $(LAYER) $(if $(CONFIG),--config '$(CONFIG)')

bench: install
	scripts/bench.sh

## Ten minutes of mixed traffic on Redis; reports memory and key counts at start and end.
soak: install services
	eval "$$(scripts/services.sh env)" && $(PY) stack/soak.py

run: install
	scripts/run.sh

services: $(UV)
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

docs: install
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

dist: install
	rm -rf dist && $(UV) build --all-packages -o dist

clean: services-stop
	rm -rf $(VENV) $(TOOLS) .state dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
