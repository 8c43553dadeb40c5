# GridCare: two commands.
#   make run    set up the virtualenv, migrate the embedded SQLite database, seed a demo
#               county when it is empty, and serve console + portal on http://127.0.0.1:8000
#               (with a background worker for import jobs, stopped when the server stops)
#   make test   the whole check as CI runs it (scripts/test.sh): ruff, mypy, missing
#               migrations, pytest on a throwaway PostgreSQL and again on SQLite
# Convenience: make lint | fmt | migrate | seed | clean

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Stamps: pip runs again only when pyproject.toml is newer than the stamp.
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

HOST ?= 127.0.0.1
PORT ?= 8000
SEED_CUSTOMERS ?= 5000
SEED ?= 1

.PHONY: help run test lint fmt migrate seed logins clean venv dev

help:
	@echo "make run      set up, migrate, seed a demo county if empty, serve on http://$(HOST):$(PORT)"
	@echo "make test     ruff + mypy + makemigrations --check + pytest on PostgreSQL and SQLite"
	@echo "make lint     ruff check, ruff format --check and mypy (the static checks of make test)"
	@echo "make fmt      ruff format and ruff check --fix"
	@echo "make migrate  apply migrations to the configured database (DATABASE_URL or var/)"
	@echo "make seed     seed the demo county if the database is empty"
	@echo "make clean    remove the virtualenv, caches and build files (keeps var/)"

$(PY):
	@test -n "$(PYTHON)" || { echo "python3.11 not found"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP_RUN)

venv: $(STAMP_RUN)
dev: $(STAMP_DEV)

migrate: $(STAMP_RUN)
	@mkdir -p "$${GRIDCARE_VAR_DIR:-var}/static"  # whitenoise warns when STATIC_ROOT is missing
	$(BIN)/gridcare migrate --noinput

seed: migrate
	$(BIN)/gridcare seed --customers $(SEED_CUSTOMERS) --seed $(SEED) --if-empty

logins:
	@echo
	@echo "GridCare demo — console and portal on http://$(HOST):$(PORT)/  (portal: /portal/, API docs: /api/docs)"
	@echo "  staff:     username = role name, password gridcare-demo"
	@echo "             counter_clerk hotline_agent billing_clerk metering_tech inspector"
	@echo "             repair_dispatcher repair_crew service_manager marketing_manager auditor"
	@echo "  admin:     admin / gridcare-admin"
	@echo "  customers: customer1 customer2 customer3 / gridcare-demo"
	@echo

# Static files are served by whitenoise from the app directories in demo mode:
# no collectstatic needed.
# The background worker (reading imports, …) runs next to the server and stops with it.
run: seed
	@scripts/system-packages.sh
	@$(MAKE) --no-print-directory logins
	$(BIN)/gridcare worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	$(BIN)/gridcare runserver $(HOST):$(PORT)

test: $(STAMP_DEV)
	scripts/test.sh

# The static checks of make test, without the database.
lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gridcare

fmt: $(STAMP_DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info gridcare.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
