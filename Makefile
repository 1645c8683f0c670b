# Two commands on a fresh machine: `make run` and `make test`.
# Only Python 3.12+ and make are needed; everything else is installed into .venv.

SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Django 6.1 needs Python 3.12 or newer: take the first interpreter on PATH (or in
# pyenv) that is new enough, unless PYTHON is given.
PYTHON ?= $(shell for c in python3.14 python3.13 python3.12 python3 \
	$$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { command -v $$c; break; }; done)

.PHONY: install run worker test lint schema clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is required (set PYTHON=/path/to/python3.12)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Serves the API and runs the task worker (webhook deliveries) beside it; Ctrl-C stops both.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_workplan
	@trap 'kill 0' EXIT; \
	$(BIN)/python manage.py db_worker --queue-name '*' --no-reload & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install
	$(BIN)/python manage.py db_worker --queue-name '*'

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Regenerates the committed snapshot of the v1 contract; review the diff before committing.
schema: install
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py spectacular \
		--api-version v1 --validate --fail-on-warn --file api/v1/openapi.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles
