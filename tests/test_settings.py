"""The settings module: the embedded default, the production switches and `check --deploy`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def _settings_dump(**env: str) -> dict[str, str]:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
        "'broker': s.CELERY_BROKER_URL, 'cache': s.CACHES['default']['BACKEND'], 'debug': s.DEBUG, "
        "'options': s.DATABASES['default'].get('OPTIONS', {})}, default=str))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_embedded_default_is_sqlite_with_eager_tasks():
    dump = _settings_dump()
    assert dump == {
        "engine": "django.db.backends.sqlite3",
        "eager": True,
        "broker": "memory://localhost/",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "debug": True,
        "options": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": dump["options"]["init_command"]},
    }


def test_database_and_redis_urls_switch_to_postgres_and_broker():
    dump = _settings_dump(
        DATABASE_URL="postgres://u@db.internal:5432/quorum", REDIS_URL="redis://cache.internal:6379/0"
    )
    assert dump["engine"] == "django.db.backends.postgresql"
    assert dump["eager"] is False and dump["broker"] == "redis://cache.internal:6379/0"
    assert dump["cache"] == "django.core.cache.backends.redis.RedisCache"
    # Prepared statements by default on PostgreSQL (server-side binding; psycopg prepares on a
    # statement's second run), off for a pooler that cannot keep them.
    assert dump["options"] == {"server_side_binding": True, "prepare_threshold": 2}
    off = _settings_dump(DATABASE_URL="postgres://u@db.internal:5432/quorum", DJANGO_DB_PREPARED_STATEMENTS="0")
    assert off["options"] == {}


def test_gunicorn_conf_runs_threaded_workers_from_the_environment():
    code = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in ('bind', 'worker_class', 'workers', 'threads', "
        "'worker_connections', 'keepalive')}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "GUNICORN_", "PORT", "HOST"))}

    def conf(**env: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True
        )
        import json

        return json.loads(out.stdout)

    assert conf() == {
        "bind": "127.0.0.1:8000",  # this machine only unless HOST says otherwise
        "worker_class": "gthread",
        "workers": 2,
        "threads": 4,
        "worker_connections": 1000,
        "keepalive": 75,
    }
    tuned = conf(
        HOST="0.0.0.0", PORT="9000", WEB_CONCURRENCY="3", GUNICORN_THREADS="6", GUNICORN_WORKER_CONNECTIONS="10"
    )
    assert tuned["bind"] == "0.0.0.0:9000" and (tuned["workers"], tuned["threads"]) == (3, 6)
    assert tuned["worker_connections"] == 10


def test_production_mode_requires_secret_key():
    result = _run(["check"], DJANGO_DEBUG="0", DJANGO_ALLOWED_HOSTS="quorum.example.org")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0" in result.stderr


def test_production_mode_requires_allowed_hosts():
    result = _run(["check"], DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(64))
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS is required" in result.stderr


def test_bad_boolean_is_named():
    result = _run(["check"], DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.skipif(not (ROOT / "node_modules" / "htmx.org").exists(), reason="npm packages not installed (make setup)")
def test_production_mode_passes_check_deploy():
    result = _run(
        ["check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="quorum.example.org",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_responses_carry_security_headers(client, db):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
