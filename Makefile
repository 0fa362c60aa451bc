# The two commands: `make run` (the product on embedded defaults) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
RUN_ID := $(shell echo $$PPID)
# Tests always use PostgreSQL, Redis and NATS on 127.0.0.1 (started when absent), with a
# per-run database, Redis key namespace, queue group and JetStream stream.
TEST_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/cio_$(RUN_ID) \
	REDIS_URL=redis://127.0.0.1:6379/0 NATS_URL=nats://127.0.0.1:4222 \
	CIO_NAMESPACE=t$(RUN_ID) NURSE_QUEUE_GROUP=cio-nurse-t$(RUN_ID) \
	NURSE_DECISION_STREAM=CIO_DECISIONS_T$(RUN_ID) NURSE_DECISION_SUBJECT_PREFIX=t$(RUN_ID).cio.decision \
	CIO_VAR_DIR=$(CURDIR)/var/test-$(RUN_ID)

.PHONY: install run test lint typecheck bench clean services

$(BIN)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	@touch $@

install: $(BIN)/.installed

services: install
	$(BIN)/python scripts/devservices.py postgres redis nats

run: install
	$(BIN)/python scripts/devservices.py redis nats
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python scripts/run_all.py $(RUN_ARGS)

test: install
	$(BIN)/python scripts/devservices.py postgres redis nats
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: install services
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var
