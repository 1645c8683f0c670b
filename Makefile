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

.PHONY: install run worker test fuzz lint schema tools lint-openapi docs-check bench bench-drop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is required (set PYTHON=/path/to/python3.12)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Serves the API and runs the task worker beside it (webhook deliveries, and the housekeeping
# on its schedule; it waits out database outages); Ctrl-C stops both.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_workplan
	@trap 'kill 0' EXIT; \
	$(BIN)/python manage.py run_worker & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install
	$(BIN)/python manage.py run_worker

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider $(PYTEST_ARGS)

# The contract fuzzer alone (schemathesis, every check, anonymous and plan admin, fixed
# seed); `make test` runs it too.
fuzz: install
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/api/test_fuzz_contract.py $(PYTEST_ARGS)

# Fault scenarios under load against gunicorn, PostgreSQL, Redis, the worker and nginx started
# on ports of their own (about 5 minutes; not part of `make test`). README: Reliability.
reliability: install
	$(BIN)/python scripts/reliability.py $(RELIABILITY_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Regenerates the committed snapshot of the v1 contract; review the diff before committing.
schema: install
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py render_examples
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py spectacular \
		--api-version v1 --validate --fail-on-warn --file api/v1/openapi.yaml

# Node tools that check the contract (Spectral, openapi-typescript, tsc, playwright-core),
# pinned by tools/package-lock.json. The tests need them; CI installs them with this.
tools: tools/node_modules/.installed

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	npm ci --prefix tools
	@touch $@

lint-openapi: tools
	npm run --prefix tools lint:openapi

# Swagger UI and ReDoc in headless Chromium (Debian's `chromium`): nothing may load from
# outside the app; screenshots go to build/docs-offline/.
docs-check: install tools
	$(BIN)/python scripts/docs_offline_check.py

# Performance against baselines on a large synthetic plan in a PostgreSQL database of its
# own (BENCH_DATABASE_URL, BENCH_N, ...: see README, "Performance"). Not part of `make test`.
bench: install
	$(BIN)/python -m bench

bench-drop: install
	$(BIN)/python -m bench --drop

clean:
	rm -rf $(VENV) tools/node_modules tools/build build .pytest_cache .mypy_cache .ruff_cache staticfiles
