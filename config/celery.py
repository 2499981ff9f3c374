"""The Celery app. Settings come from Django's settings under the CELERY_ namespace."""

from __future__ import annotations

import os
import socket

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="quorum.healthcheck", acks_late=True)
def healthcheck() -> dict[str, str]:
    """Answer from a worker: which host, database engine and database it runs against.

    Operations call it to check a worker end to end (`celery -A config call quorum.healthcheck`).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {
        "hostname": socket.gethostname(),
        "pid": str(os.getpid()),
        "database": connection.vendor,
        "name": str(connection.settings_dict["NAME"]),
    }
