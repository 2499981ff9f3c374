"""The work queue's tables on PostgreSQL: vacuumed by the beat task, and autovacuumed early
(annotation/queues.py, migration annotation 0006)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F

from annotation import queues, tasks
from annotation.models import Item
from tests.annotation.factories import BatchFactory, ItemFactory


def _vacuum_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY(%s)", [list(queues.HOT_TABLES)]
        )
        return dict(cursor.fetchall())


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_queue_tables_are_vacuumed(project):
    batch = BatchFactory(project=project)
    for _ in range(20):
        ItemFactory(batch=batch)
    Item.objects.update(assigned_count=F("assigned_count") + 1)  # dead versions to remove
    before = _vacuum_counts()
    seconds = tasks.work_queue_vacuum.apply().get()["seconds"]
    assert seconds is not None and seconds >= 0
    after = _vacuum_counts()
    assert all(after[table] == before.get(table, 0) + 1 for table in queues.HOT_TABLES), (before, after)


@pytest.mark.integration
@pytest.mark.django_db
def test_on_postgresql_the_queue_tables_autovacuum_early():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname",
            [list(queues.HOT_TABLES)],
        )
        options = dict(cursor.fetchall())
    for table in queues.HOT_TABLES:
        assert set(options[table]) == {
            "autovacuum_vacuum_scale_factor=0.0",
            "autovacuum_vacuum_threshold=5000",
            "autovacuum_vacuum_insert_scale_factor=0.0",
            "autovacuum_vacuum_insert_threshold=20000",
        }, table
