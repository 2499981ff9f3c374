"""A live Celery worker process for integration tests, bound to the test database.

These tests need the real PostgreSQL and Redis: DATABASE_URL (postgres://...) and REDIS_URL set.
The worker is started here (not by CI) so that it points at pytest-django's test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from config import celery_app

ROOT = Path(__file__).resolve().parents[2]


def _services_configured() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and bool(settings.REDIS_URL)


def pytest_collection_modifyitems(config, items):
    if _services_configured():
        return
    skip = pytest.mark.skip(reason="needs DATABASE_URL=postgres://... and REDIS_URL (see README, 'Tests')")
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(skip)


def _database_url_for(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """Start `celery worker` against the test database and wait until it answers a ping.

    The prefork pool with one child, as in production: tasks run in the child process, one at a
    time in queue order, and a child killed mid-task (test_jobs_worker_lost.py) is replaced while
    its message goes back on the queue. `hold_dir` is the worker's QUORUM_JOB_HOLD_DIR
    (core.jobs.job_checkpoint): a job finding its hold file there waits, so a test can kill it
    mid-run."""
    from django.db import connection

    with django_db_blocker.unblock():
        test_db_name = connection.settings_dict["NAME"]
    nodename = f"quorum-test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    hold_dir = tmp_path_factory.mktemp("job-holds")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for(test_db_name),
        "DJANGO_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        "QUORUM_WEBHOOK_ALLOW_PRIVATE": "1",  # the tests' webhook receivers listen on 127.0.0.1
        "QUORUM_JOB_HOLD_DIR": str(hold_dir),
    }
    celery_app.control.purge()
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the worker's lifetime
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            nodename,
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(60):  # each ping waits up to 1 s for the reply: at most ~60 s in all
            if process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {process.returncode}:\n{log_path.read_text()}")
            if celery_app.control.ping(destination=[nodename], timeout=1.0):
                break
        else:
            raise RuntimeError(f"celery worker did not answer within 60 s:\n{log_path.read_text()}")
        yield {
            "nodename": nodename,
            "process": process,
            "log": log_path,
            "database": test_db_name,
            "hold_dir": hold_dir,
            "env": env,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
