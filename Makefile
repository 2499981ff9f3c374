# Quorum: the two commands a fresh machine needs are `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup setup-dev lint lock worker beat bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime.stamp: requirements.txt constraints.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev.stamp: requirements.txt requirements-dev.txt constraints.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.runtime.stamp

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.runtime.stamp node_modules/.package-lock.json

setup-dev: $(VENV)/.dev.stamp node_modules/.package-lock.json

## Run Quorum on the embedded default (SQLite, in-process tasks) with the demo data.
demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --url http://$(HOST):$(PORT)/
	$(PY) manage.py runserver $(HOST):$(PORT)

## Run the tests (installs what they need; in CI, twice: SQLite, then PostgreSQL + Redis + worker).
test: setup-dev
	bash scripts/test.sh

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## Re-pin the whole dependency tree after editing requirements*.txt (needs uv: `pip install uv`).
lock:
	uv pip compile requirements-dev.txt --universal --python-version 3.11 --no-header \
	  --annotation-style line -o constraints.txt --quiet
	sed -i '1i # Every package Quorum installs, pinned (make lock: uv pip compile requirements-dev.txt).\n# Installs use it as constraints: pip install -r requirements.txt -c constraints.txt' constraints.txt

worker: setup
	$(VENV)/bin/celery -A config worker --loglevel=INFO

beat: setup
	$(VENV)/bin/celery -A config beat --loglevel=INFO

clean:
	rm -rf $(VENV) node_modules staticfiles db.sqlite3 db.sqlite3-* test-artifacts
