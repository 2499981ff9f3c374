"""The work queue's vacuum (annotation/queues.py, services.work_queue_vacuum, the beat task) and
the tables' autovacuum settings."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from annotation import queues, services, tasks
from annotation.models import Assignment, Item
from core.errors import QuorumError


def test_the_hot_tables_are_the_models_tables():
    assert (Item._meta.db_table, Assignment._meta.db_table) == queues.HOT_TABLES
    assert queues.VACUUM_SQL == "VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON) annotation_item, annotation_assignment"


def test_beat_runs_the_vacuum_every_few_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["annotation.work_queue_vacuum"]
    assert entry["task"] == "annotation.work_queue_vacuum" and entry["schedule"] == 10


@pytest.mark.django_db
def test_sqlite_has_nothing_to_vacuum_and_postgresql_refuses_inside_a_transaction():
    if connection.vendor == "sqlite":
        assert services.work_queue_vacuum() is None
        assert tasks.work_queue_vacuum.delay().get() == {"seconds": None}
    else:  # the test's own transaction: VACUUM cannot run in one, and the error says so
        with pytest.raises(QuorumError, match="cannot run inside a transaction"):
            services.work_queue_vacuum()
