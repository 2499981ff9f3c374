#!/usr/bin/env bash
# CI's production-path stage: what the README's "Running in production" says, on a fresh venv made
# from requirements.txt alone (pinned by constraints.txt, no dev tools), a fresh PostgreSQL
# database and Redis: migrate, collectstatic, check --deploy, then gunicorn (gunicorn.conf.py), a
# Celery worker and beat; the worker's health check; sign in; a delivery built by the worker and
# downloaded over HTTP (scripts/production_path.py). Every process is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/quorum-production.XXXXXX)
DB=quorum_production_path
VENV=$WORK/venv
PIDS=()
stop() {
  local code=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$code" != 0 ]; then
    for log in "$WORK"/*.log; do echo "--- $log"; tail -n 40 "$log"; done
  fi
  rm -rf "$WORK"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" postgres >/dev/null 2>&1 || true
  exit "$code"
}
trap stop EXIT

echo "== production path: a fresh venv from requirements.txt alone"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error

psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" postgres
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DJANGO_DEBUG=0 DJANGO_BEHIND_PROXY=1 DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1 HOST=127.0.0.1 PORT
export DJANGO_SECRET_KEY="production-path-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" REDIS_URL="redis://127.0.0.1:6379/13"
export DJANGO_MEDIA_ROOT="$WORK/media"
"$VENV/bin/python" - <<'PY'
import redis, os; redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
PY
cd "$ROOT"
"$VENV/bin/python" manage.py migrate --noinput >/dev/null
"$VENV/bin/python" manage.py collectstatic --noinput >/dev/null
"$VENV/bin/python" manage.py check --deploy --fail-level WARNING
"$VENV/bin/python" manage.py seed_demo >/dev/null

"$VENV/bin/gunicorn" config.wsgi:application >"$WORK/gunicorn.log" 2>&1 & PIDS+=($!)
"$VENV/bin/celery" -A config worker --loglevel=INFO --concurrency=2 >"$WORK/worker.log" 2>&1 & PIDS+=($!)
"$VENV/bin/celery" -A config beat --loglevel=INFO --schedule "$WORK/beat-schedule" >"$WORK/beat.log" 2>&1 & PIDS+=($!)

echo "== production path: the worker's health check"
TASK=$("$VENV/bin/celery" -A config call quorum.healthcheck)
timeout 90 "$VENV/bin/celery" -A config result "$TASK"
wait_for() {  # wait_for WHAT COMMAND...: up to 20 s
  local what=$1; shift
  for _ in $(seq 100); do "$@" && return 0; sleep 0.2; done
  echo "$what did not happen within 20 s"; return 1
}
wait_for "gunicorn answering" curl -fs -o /dev/null -H 'X-Forwarded-Proto: https' -H 'Host: localhost' \
  "http://127.0.0.1:$PORT/accounts/login/"
wait_for "beat starting" grep -q "beat: Starting" "$WORK/beat.log"
echo "== production path: sign in, build a delivery through the worker, download it"
"$VENV/bin/python" scripts/production_path.py "http://127.0.0.1:$PORT"
echo "== production path: passed"
