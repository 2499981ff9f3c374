"""Autovacuum settings for the work queue's tables on PostgreSQL (annotation/queues.py).

Beat vacuums them every few seconds (services.work_queue_vacuum); these settings are the backstop
when beat is not running: a vacuum once 5,000 rows are dead (or 20,000 inserted, which keeps the
visibility map, and with it the index-only scans, current), instead of autovacuum's default of a
fifth of the table. Nothing to do on SQLite.
"""

from django.db import migrations

SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000, "
    "autovacuum_vacuum_insert_scale_factor = 0.0, autovacuum_vacuum_insert_threshold = 20000"
)
NAMES = (
    "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
    "autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold"
)
TABLES = ("annotation_item", "annotation_assignment")


def apply(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET ({SETTINGS})")


def revert(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} RESET ({NAMES})")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_shared_rows_unlocked")]

    operations = [migrations.RunPython(apply, revert)]
