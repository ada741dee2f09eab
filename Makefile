# Hivelight: `make run` serves the app with demo data, `make test` runs the suite.
# Nothing but Python 3.11, Node 20 and Java 17 is needed beforehand.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Same place as the settings' HIVELIGHT_DATA_DIR (SQLite file, DynamoDB data).
DATA_DIR ?= $(or $(HIVELIGHT_DATA_DIR),.data)
DYNAMO_PORT ?= 8001
RUN_PORT ?= 8000
DYNAMO_PID := $(DATA_DIR)/dynamodb.pid
DYNAMO_LOG := $(DATA_DIR)/dynamodb.log

# `make test` configures Celery with a real Redis broker but runs tasks inline,
# unless a test starts a real worker (tests/fixtures/worker.py). Override on the
# command line or in the environment; DATABASE_URL passes through (else SQLite).
REDIS_URL ?= redis://127.0.0.1:6379/14
CELERY_TASK_ALWAYS_EAGER ?= 1
ARGS ?=

.PHONY: help install run serve test lint fmt clean distclean

help:
	@echo "make run     install, start DynamoDB Local, migrate, seed, serve on :8000"
	@echo "make serve   the production shape: WEB=2 uvicorn processes, WORKERS=2 Celery workers, beat"
	@echo "             (PostgreSQL DATABASE_URL, Redis REDIS_URL, DynamoDB Local on :8001)"
	@echo "make test    install and run the whole test suite (ARGS=... for pytest)"
	@echo "make lint    ruff check + ruff format --check + import contracts"
	@echo "make fmt     ruff format + ruff check --fix"
	@echo "make clean   remove caches and build stamps (keeps .venv, node_modules, .data)"
	@echo "make distclean  also remove .venv, node_modules and .data"

# --- install: idempotent, and quick when nothing changed ------------------------

install: $(VENV)/.installed node_modules/.installed

$(PY):
	@set -e; \
	if command -v python3.11 >/dev/null 2>&1; then py=python3.11; \
	elif python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
	then py=python3; \
	else echo "Python 3.11 or newer is needed (python3.11 or python3)." >&2; exit 1; fi; \
	echo "Creating $(VENV) with $$($$py --version)"; \
	$$py -m venv $(VENV)

# The stamp is newer than pyproject.toml once the install succeeded.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund
	@touch $@

# --- run: the embedded default, nothing to configure -----------------------------

# DynamoDB Local runs in the background with its data under .data/dynamodb; one
# already answering on the port is reused (and left running), the one started
# here (in its own process group, so its Java child goes too) is stopped when
# `make run` exits, however it exits.
run: install
	@set -euo pipefail; \
	mkdir -p $(DATA_DIR)/dynamodb; \
	export HIVELIGHT_DATA_DIR="$(abspath $(DATA_DIR))"; \
	export DYNAMODB_ENDPOINT_URL="$${DYNAMODB_ENDPOINT_URL:-http://127.0.0.1:$(DYNAMO_PORT)}"; \
	started=""; \
	stop_dynamo() { \
	  trap '' PIPE INT TERM; \
	  if [ -n "$$started" ] && kill -0 "$$started" 2>/dev/null; then \
	    kill -TERM -- "-$$started" 2>/dev/null || kill "$$started" 2>/dev/null || true; \
	    for _ in $$(seq 100); do kill -0 "$$started" 2>/dev/null || break; sleep 0.1; done; \
	    kill -KILL -- "-$$started" 2>/dev/null || true; \
	    rm -f $(DYNAMO_PID); \
	    echo "Stopped DynamoDB Local (pid $$started)" 2>/dev/null || true; \
	  fi; \
	}; \
	trap stop_dynamo EXIT; \
	trap 'exit 130' INT TERM; \
	port_open() { $(PY) -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' $(DYNAMO_PORT) 2>/dev/null; }; \
	if port_open; then \
	  echo "DynamoDB Local already answering on $(DYNAMO_PORT); reusing it"; \
	else \
	  echo "Starting DynamoDB Local on $(DYNAMO_PORT) (data in $(DATA_DIR)/dynamodb, log in $(DYNAMO_LOG))"; \
	  setsid $(PY) -m events_app.store.local --port $(DYNAMO_PORT) --db-path $(DATA_DIR)/dynamodb \
	    >$(DYNAMO_LOG) 2>&1 & \
	  started=$$!; echo $$started > $(DYNAMO_PID); \
	  for _ in $$(seq 300); do \
	    port_open && break; \
	    kill -0 $$started 2>/dev/null || { echo "DynamoDB Local exited:" >&2; cat $(DYNAMO_LOG) >&2; exit 1; }; \
	    sleep 0.1; \
	  done; \
	  port_open || { echo "DynamoDB Local did not answer within 30 s:" >&2; cat $(DYNAMO_LOG) >&2; exit 1; }; \
	fi; \
	$(PY) manage.py migrate --no-input; \
	$(PY) manage.py ensure_event_tables; \
	$(PY) manage.py rebuild_activity_counts --if-changed; \
	$(PY) manage.py seed_demo; \
	echo; echo "Hivelight: http://127.0.0.1:$(RUN_PORT)/  (Ctrl-C to stop)"; echo; \
	$(PY) manage.py runserver 127.0.0.1:$(RUN_PORT)

# --- serve: the production shape on this machine ------------------------------

# hivelight/serve.py starts DynamoDB Local (unless one answers), migrates,
# seeds, then WORKERS Celery worker nodes (relay, handlers, each with the
# outbox NOTIFY listener), an outbound worker, one beat and uvicorn with WEB
# processes on SERVE_PORT; one Ctrl-C stops all of them (process groups).
WEB ?= 2
WORKERS ?= 2
SERVE_PORT ?= $(RUN_PORT)
# DATABASE_URL and REDIS_URL from the command line or the environment win;
# the test suite's Redis default above is not used here.
SERVE_DATABASE_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/hivelight)
SERVE_REDIS_URL := $(if $(filter file,$(origin REDIS_URL)),redis://127.0.0.1:6379/0,$(REDIS_URL))

serve: install
	DATABASE_URL='$(SERVE_DATABASE_URL)' REDIS_URL='$(SERVE_REDIS_URL)' \
	  HIVELIGHT_DATA_DIR="$(abspath $(DATA_DIR))" \
	  DYNAMODB_ENDPOINT_URL="$${DYNAMODB_ENDPOINT_URL:-http://127.0.0.1:$(DYNAMO_PORT)}" \
	  exec $(PY) -m hivelight.serve --web $(WEB) --workers $(WORKERS) \
	    --port $(SERVE_PORT) --dynamo-port $(DYNAMO_PORT) $(ARGS)

# --- test ---------------------------------------------------------------------

test: install
	REDIS_URL='$(REDIS_URL)' CELERY_TASK_ALWAYS_EAGER='$(CELERY_TASK_ALWAYS_EAGER)' \
	  $(PY) -m pytest $(ARGS)

# --- code style ---------------------------------------------------------------

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

fmt: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf .pytest_cache .ruff_cache .hypothesis staticfiles test-artifacts
	rm -f $(VENV)/.installed node_modules/.installed
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o \
	  -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules .data
