#!/usr/bin/env bash
# The test run behind `make test`. Locally: lint, then the suite on SQLite (integration tests run
# too when DATABASE_URL and REDIS_URL are set). With CI=true: the suite twice, on SQLite and against
# the local PostgreSQL and Redis with a live Celery worker, and no test may be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== ruff"
.venv/bin/ruff check .
echo "== import layering (import-linter contracts in pyproject.toml)"
.venv/bin/lint-imports
echo "== migrations are up to date"
$PY manage.py makemigrations --check --dry-run >/dev/null

if [ "${CI:-}" != "true" ]; then
  exec $PY -m pytest "$@"
fi

export QUORUM_FORBID_SKIPS=1
echo "== run 1 of 2: SQLite, in-process tasks"
env -u DATABASE_URL -u REDIS_URL $PY -m pytest -m "not integration" "$@"

echo "== run 2 of 2: PostgreSQL + Redis + live Celery worker"
bash scripts/services-up.sh
export DATABASE_URL="${CI_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/quorum}"
export REDIS_URL="${CI_REDIS_URL:-redis://127.0.0.1:6379/15}"
# The API contract (schemathesis, ~4 min) is the schema's shapes, which do not depend on the
# database: run 1 checks it; run 2 is for what PostgreSQL, Redis and the worker change.
$PY -m pytest --ignore=tests/test_contract.py "$@"

echo "== the production path: requirements.txt alone, gunicorn, worker and beat as the README says"
bash scripts/production-path.sh
