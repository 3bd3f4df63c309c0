# Diversion: `make run` to try it, `make test` to check it. Nothing else needs doing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app diversion
STAMP := $(VENV)/.installed
ASSETS := static/govuk/govuk-frontend.min.css
GOVUK := node_modules/govuk-frontend/dist/govuk
# Two workers, one per core; a file's tests stay together. Each worker has its own databases.
PARALLEL ?= -n 2 --dist loadfile
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Installs are reproducible: every package at the exact version and hash in requirements.lock
# (`make lock` refreshes it from pyproject.toml's ranges; see docs/dependencies.md).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

.PHONY: lock
lock:  ## re-resolve requirements.lock (exact versions with hashes) from pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv>=0.9,<1'
	$(BIN)/uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 \
		--no-header --index-url https://pypi.org/simple --upgrade -o requirements.lock
	@echo "requirements.lock refreshed: run make test, then commit it with pyproject.toml"

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(ASSETS): node_modules/.package-lock.json
	rm -rf static/govuk
	mkdir -p static/govuk
	cp $(GOVUK)/govuk-frontend.min.css $(GOVUK)/govuk-frontend.min.js static/govuk/
	cp -r $(GOVUK)/assets static/govuk/assets
	touch $@

.PHONY: install
install: $(STAMP) $(ASSETS)  ## create .venv, install dependencies, build front-end assets
	@# Bytecode for the app's own modules (pip compiled the packages'). Where the environment sets
	@# PYTHONDONTWRITEBYTECODE, as containers often do, Python never caches it itself, and every
	@# `flask` command and worker would compile ~200 modules again (about a quarter of CLI start).
	@# Only changed files are recompiled, so this costs nothing when the sources have not moved.
	@$(BIN)/python -m compileall -q diversion migrations wsgi.py

.PHONY: db
db: install  ## migrate the database and load demo data when it is empty
	$(FLASK) db upgrade
	@if [ "$$($(FLASK) stats | $(BIN)/python -c 'import json,sys; print(sum(json.load(sys.stdin)["users"].values()))')" = "0" ]; then \
		$(FLASK) demo load; \
	else \
		echo "Database already has users; demo data not loaded (run: $(FLASK) demo load)"; \
	fi

.PHONY: port-free
port-free:
	@$(PYTHON) -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2])))' $(HOST) $(PORT) 2>/dev/null \
		|| { echo "Port $(PORT) on $(HOST) is already in use (another Diversion, or another program)." >&2; \
		     echo "Stop that program, or choose another port: make run PORT=5001" >&2; exit 1; }

.PHONY: run
run: port-free db  ## serve http://127.0.0.1:5000 with the scheduler beside it
	@echo "Diversion on http://$(HOST):$(PORT)  (Ctrl-C stops the web server and the scheduler)"
	@$(FLASK) scheduler run & scheduler=$$!; \
	trap 'kill $$scheduler 2>/dev/null; wait $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

# Debian packages the tests need, installed with apt-get when missing (as root, or through sudo).
APT_INSTALL = if ! command -v apt-get >/dev/null; then \
		echo "$(1) is missing and this is not a Debian-like system: install $(2) by hand" >&2; exit 1; \
	elif [ "$$(id -u)" = "0" ]; then SUDO=; \
	elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "$(1) is missing: run 'apt-get install $(2)' as root" >&2; exit 1; fi; \
	echo "Installing Debian's $(2)"; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null

.PHONY: chromium
chromium:  ## install Debian's Chromium for the browser tests when it is missing
	@if [ ! -x /usr/bin/chromium ]; then $(call APT_INSTALL,/usr/bin/chromium,chromium); fi

.PHONY: postgresql
postgresql:  ## install PostgreSQL's server binaries (initdb, pg_ctl) when they are missing
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		$(call APT_INSTALL,PostgreSQL's initdb,postgresql); fi

# The time-sensitive tests, run a second time with the machine's zone set to London: nothing may
# depend on it (docs/messaging.md). The demo loaders are left out here to keep this run quick.
TIME_TESTS := tests/outbox tests/scheduler tests/test_timeutils.py tests/courses tests/attendance
TIME_TESTS_SKIP := not test_demo_load and not test_the_demo_has and not test_demo_data and not test_stats_count

.PHONY: test
test: install chromium postgresql  ## run the whole suite on SQLite and on a throwaway PostgreSQL, with browser tests
	$(BIN)/ruff check diversion tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	TZ=UTC $(BIN)/pytest -q -p no:cacheprovider $(PARALLEL)
	TZ=UTC .ci/postgres run $(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) -m "not browser"
	TZ=Europe/London $(BIN)/pytest -q -p no:cacheprovider $(PARALLEL) $(TIME_TESTS) -m "not browser" -k "$(TIME_TESTS_SKIP)"

.PHONY: test-sqlite
test-sqlite: install  ## the suite on SQLite only, without starting PostgreSQL
	$(BIN)/pytest -q

.PHONY: wrk
wrk:  ## install Debian's wrk (the benchmarks load pages served by gunicorn with it) when missing
	@if ! command -v wrk >/dev/null; then $(call APT_INSTALL,wrk,wrk); fi

# `make bench BENCH_N=1000000 DATABASE_URL=postgresql://…` for PostgreSQL (a server the
# benchmarks may create databases on: they make their own beside the one named).
BENCH_N ?= 10000

.PHONY: bench
bench: install wrk  ## print issue 17's benchmark table at BENCH_N referrals (docs/performance.md)
	BENCH_N=$(BENCH_N) $(BIN)/python -m bench

.PHONY: lint
lint: install
	$(BIN)/ruff check diversion tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: clean
clean:
	rm -rf $(VENV) node_modules static/govuk .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
